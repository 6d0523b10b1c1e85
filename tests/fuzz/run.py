"""The fuzz loop: random programs on the interpreter, the jit (tier 0 and tier 2) and Unicorn,
and mutated images against the loader, for a number of programs or a time budget.

A finding is a disagreement with Unicorn (tests/x86/oracle.assert_same), a host exception
from an engine, or a loader traceback.  Disagreements whose cause is known (known.py, each
confirmed by a re-run) are counted apart.  The same seed replays the same run.

Example:
    report = fuzz(seed=1, seconds=10)
    print(report.describe())
"""

import contextlib
import io
import random
import tempfile
import time
import traceback
from dataclasses import dataclass, field

from tests.asmguest import ENGINE_VARIANTS
from tests.x86.oracle import DATA_SIZE, assert_same, run_unicorn, run_vmm

from .images import load_and_run, mutated_image, seed_images
from .known import known_cause
from .programs import random_program, random_registers

IMAGE_SHARE = 0.2            # of the iterations, mutated images for the loader


@dataclass
class FuzzReport:
    seed: int
    programs: int = 0
    images: int = 0
    loaded: int = 0
    seconds: float = 0.0
    findings: list = field(default_factory=list)
    known: dict = field(default_factory=dict)      # known cause (known.py) -> programs

    def describe(self):
        rate = self.programs / self.seconds if self.seconds else 0.0
        lines = [f"fuzz seed {self.seed}: {self.programs} programs on {len(ENGINE_VARIANTS)} engines + Unicorn "
                 f"({rate:.1f} programs/s), {self.images} images ({self.loaded} loaded), "
                 f"{self.seconds:.1f} s, {len(self.findings)} new findings, known differences: "
                 f"{', '.join(f'{k} {v}' for k, v in sorted(self.known.items())) or 'none'}"]
        lines += [f"--- finding {n + 1}:\n{finding}" for n, finding in enumerate(self.findings[:20])]
        return "\n".join(lines)


def _compare(code, regs, eflags, data, engines=ENGINE_VARIANTS):
    """None if every engine agrees with Unicorn on `code`, else (engine, what differs)."""
    oracle = run_unicorn(code, regs, eflags, data)
    for engine in engines:
        try:
            assert_same(code.hex(), oracle, run_vmm(engine, code, regs, eflags, data), regs)
        except AssertionError as error:
            return engine, str(error)
        except Exception:           # a host exception from vmm is a finding too
            return engine, traceback.format_exc()
    return None


def check_program(rng, engines=ENGINE_VARIANTS, raw_share=0.3):
    """One random program with random registers, flags and data: None if all agree, else
    (known cause or None, description)."""
    program = random_program(rng, raw_share=raw_share)
    regs = random_registers(rng)
    eflags = (rng.randrange(0x1000) & 0x8D5) | 0x2
    data = rng.randbytes(DATA_SIZE)
    differs = _compare(program.code, regs, eflags, data, engines)
    if differs is None:
        return None
    cause = known_cause(program, lambda parts: _compare(b"".join(parts), regs, eflags, data, engines) is None)
    engine, what = differs
    return cause, f"[{engine}] {program.code.hex()}\n{program.text}\n{what}"


def check_image(rng, seeds, directory):
    image = mutated_image(rng, seeds)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return load_and_run(image, directory), None
    except Exception:
        return "crashed", f"[loader] image {image[:64].hex()}... ({len(image)} bytes)\n{traceback.format_exc()}"


def fuzz(seed, seconds=None, programs=None, images=None):
    """Run until `seconds` pass or `programs` programs and `images` images are done."""
    rng = random.Random(seed)
    report = FuzzReport(seed)
    seeds = seed_images()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        while True:
            if seconds is not None and time.perf_counter() - start >= seconds:
                break
            want_image = rng.random() < IMAGE_SHARE
            if programs is not None and report.programs >= programs:
                if images is None or report.images >= images:
                    break
                want_image = True
            if want_image and (images is None or report.images < images):
                outcome, finding = check_image(rng, seeds, directory)
                report.images += 1
                report.loaded += outcome == "loaded"
            else:
                found = check_program(rng)
                report.programs += 1
                finding = None
                if found is not None and found[0] is not None:
                    report.known[found[0]] = report.known.get(found[0], 0) + 1
                elif found is not None:
                    finding = found[1]
            if finding:
                report.findings.append(finding)
    report.seconds = time.perf_counter() - start
    return report
