"""The os example guest (examples/os, committed as examples/images/os.elf): a small protected-mode
OS with rings, paging, PIC/PIT preemption, int 0x80 and sysenter, lazy x87 switching and a
serial echo by interrupt.  QEMU, the reference PC, must print exactly os_transcript.txt for the
serial input below, and so must vmm on every engine, with one instruction count for all of them
(virtual time makes the run deterministic) and no divergence in lockstep.

Through the Python API the input is queued in vmm's COM1 before the run (`Uart16550.feed`); QEMU
and `vmm run` read it from stdin, whenever their UART takes it.  The OS prints it only after its
tasks are done, so the transcript does not depend on when it arrives.
"""

import functools
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vmm.lockstep import lockstep
from vmm.machine import Machine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
IMAGE = ROOT / "examples" / "images" / "os.elf"
SERIAL_INPUT = b"hello, vmm!\n"
TRANSCRIPT = (HERE / "os_transcript.txt").read_bytes()
# A correct run retires about 400,000 instructions (a few timer ticks of ~84,000 at 11.9 kHz on
# vmm's 1 GHz virtual clock); a stuck one stops here, long before the guest's own watchdog.
MAX_INSNS = 5_000_000
ENGINES = {"interp": dict(engine="interp"), "jit": dict(engine="jit"), "jit-tier2": dict(engine="jit", jit_tier=2)}


def test_transcript_is_a_pass():
    """The expected transcript itself: every check passed (so the comparisons below mean something)."""
    lines = TRANSCRIPT.decode().splitlines()
    checks = [line for line in lines if line.startswith(("PASS ", "FAIL "))]
    assert len(checks) == 17 and all(line.startswith("PASS ") for line in checks)
    assert lines[-1] == "os: all 17 checks passed"
    assert "os: echo> hello, vmm!" in lines


def test_qemu_prints_the_transcript():
    qemu = shutil.which("qemu-system-i386")
    assert qemu, "qemu-system-i386 is required (apt-get install qemu-system-x86; .ci/run installs it)"
    done = subprocess.run([qemu, "-kernel", str(IMAGE), "-display", "none", "-serial", "stdio", "-monitor", "none",
                           "-no-reboot", "-device", "isa-debug-exit,iobase=0xf4,iosize=4"],
                          input=SERIAL_INPUT, capture_output=True, timeout=60)
    assert done.stdout.decode() == TRANSCRIPT.decode()
    assert done.returncode == 1                       # isa-debug-exit with 0: (0 << 1) | 1


def booted(out=None, **engine):
    """A machine with os.elf loaded and the serial input queued in COM1."""
    m = Machine(serial=out, **engine)
    m.load(IMAGE)
    m.devices["com1"].feed(SERIAL_INPUT)
    return m


@functools.lru_cache(maxsize=None)
def run_on_vmm(variant):
    out = io.BytesIO()
    result = booted(out, **ENGINES[variant]).run(max_insns=MAX_INSNS, timeout=120)
    return result, out.getvalue()


@pytest.mark.parametrize("variant", ENGINES)
def test_vmm_prints_the_transcript(variant):
    result, serial = run_on_vmm(variant)
    assert serial.decode() == TRANSCRIPT.decode(), result.summary()
    assert (result.reason, result.exit_code) == ("exit", 1), result.summary()


@pytest.mark.parametrize("variant", ["jit", "jit-tier2"])
def test_translator_retires_as_many_instructions_as_the_interpreter(variant):
    assert run_on_vmm(variant)[0].instructions == run_on_vmm("interp")[0].instructions


def test_lockstep_translator_and_interpreter():
    """What `vmm run os.elf --check` does, with the same input queued in both machines."""
    out = io.BytesIO()
    report = lockstep(booted(out, engine="jit"), booted(engine="interp"), max_insns=MAX_INSNS)
    assert not report.divergence and report.reason.startswith("exit"), report.describe()
    assert out.getvalue().decode() == TRANSCRIPT.decode()


@pytest.mark.parametrize("check", [[], ["--check"]], ids=["run", "check"])
def test_cli_with_the_input_on_stdin(check):
    """`vmm run os.elf [--check]` with the input piped in: the stdin console feeds COM1 (with
    --check, the interpreter's COM1 too, or lockstep diverges)."""
    done = subprocess.run([sys.executable, "-m", "vmm", "run", str(IMAGE), "--max-insns", str(MAX_INSNS), *check],
                          input=SERIAL_INPUT, capture_output=True, timeout=300, cwd=ROOT)
    assert done.stdout.decode() == TRANSCRIPT.decode(), done.stderr.decode()
    if check:
        assert done.returncode == 0 and b"no divergence" in done.stderr, done.stderr.decode()
    else:
        assert done.returncode == 1, done.stderr.decode()
