"""The peers a user would pick instead of vmm, and vmm itself, run as whole processes.

  vmm      `python3 -m vmm run` on the image, as a user runs it (same interpreter, same vmm)
  qemu     qemu-system-i386 (TCG) booting the same multiboot image, or a nanobenchmark
           wrapped as one (qemu_image)
  unicorn  Unicorn 2 from Python running the same image or nanobenchmark, port I/O hooked;
           as a process (a Python that imports unicorn and vmm's loader) and in-process
  native   the benchmark's C source built with gcc -m32 -O2 as a Linux program

Each process run gives its whole wall time (start-up, loading, the run, exit) and, where the
process can tell, the time of the run alone.  A peer that is not installed is reported as
missing with the command that installs it (into this Python's environment, for unicorn).

Example:
    qemu_guest(2000)        # {"process_s": 0.12, "run_s": None, "checksum": "0x047310e0"}
    qemu_micro(MICRO["callret"], 10**6)     # 0.09 (seconds, the whole process)
    vmm_process("jit", 2000)
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..boot import load_image
from ..errors import VmmError
from ..memory import PhysicalMemory
from .qemu_image import EXIT_STATUS, qemu_image
from .workloads import BENCH_IMAGE, EXAMPLES, ORIGIN

CHECKSUM = re.compile(rb"checksum=(0x[0-9a-fA-F]+)")
SUMMARY = re.compile(rb"vmm: ([0-9]+) instructions in ([0-9.]+) s")     # vmm run's summary line
NATIVE = EXAMPLES / "build" / "bench-native"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]             # the vmm being benchmarked
TIMEOUT = 600
MICRO_MEMORY_MB = 4                          # the nanobenchmarks use the first 2 MiB
ICOUNT = ["-icount", "shift=0,sleep=off"]    # 1 ns of virtual time per instruction, idle skipped


class Missing(Exception):
    """A peer is not installed; the message says how to install it."""


def _checksum(output):
    match = CHECKSUM.search(output)
    return match.group(1).decode() if match else None


def _process(cmd, **kwargs):
    """(wall seconds, CompletedProcess) of `cmd`, stdin closed, output captured."""
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - start, done


def _python(args):
    """(wall seconds, CompletedProcess) of this Python running `args`, importing this vmm.
    As an installed package runs, with compiled bytecode: where the environment turns the
    bytecode cache off (PYTHONDONTWRITEBYTECODE), it is kept in a temporary directory instead
    (compiling vmm's modules at every start would add about 60 ms to each process)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(PACKAGE_ROOT),
                                                                     os.environ.get("PYTHONPATH")])))
    if env.pop("PYTHONDONTWRITEBYTECODE", None):
        env.setdefault("PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / "vmm-bench-pycache"))
    return _process([sys.executable, *args], env=env)


def qemu_command(image, cmdline="", memory_mb=128):
    qemu = shutil.which("qemu-system-i386")
    if qemu is None:
        raise Missing("qemu-system-i386 not found: apt-get install qemu-system-x86")
    return [qemu, "-kernel", str(image), "-append", cmdline, "-m", str(memory_mb),
            "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]


def _measured(process_s, run_s, output, **more):
    """A process run's figures: whole-process wall seconds, seconds of the run alone (None when
    the process does not say), and the guest's checksum."""
    return {"process_s": process_s, "run_s": run_s, "checksum": _checksum(output), **more}


def qemu_micro(work, n, icount=False):
    """Whole-process seconds of qemu-system-i386 running nanobenchmark `work` (a
    workloads.Micro) n times, as the multiboot image of qemu_image; with `icount`, under
    ICOUNT (virtual time from the instruction count; hlt skips to the next timer deadline)."""
    with tempfile.TemporaryDirectory(prefix="vmm-bench-") as tmp:
        image = Path(tmp) / f"{work.name}.bin"
        image.write_bytes(qemu_image(work, n))
        seconds, done = _process(qemu_command(image, memory_mb=MICRO_MEMORY_MB) + (ICOUNT if icount else []))
    if done.returncode != EXIT_STATUS:
        raise VmmError(f"qemu-system-i386 did not finish nanobenchmark {work.name} (status {done.returncode}, "
                       f"not {EXIT_STATUS}): {done.stderr.decode(errors='replace').strip()}")
    return seconds


def qemu_guest(iters, memory_mb=128, options=""):
    """qemu-system-i386 running the bench guest (it does not time its run: run_s is None);
    `options` go on its command line after iters= (e.g. " paging=1")."""
    seconds, done = _process(qemu_command(BENCH_IMAGE, f"iters={iters}{options}", memory_mb))
    return _measured(seconds, None, done.stdout)


NO_DISK_CACHE = "--no-tcache"


def vmm_process(engine, iters, image=BENCH_IMAGE, options=""):
    """`python3 -m vmm run` on the bench guest; run_s and instructions from its summary line.
    Without the persistent translation cache (NO_DISK_CACHE): every run compiles what it
    runs, as QEMU does, so the figures do not depend on what ran before."""
    seconds, done = _python(["-m", "vmm", "run", str(image), "--engine", engine, "--append", f"iters={iters}{options}",
                             NO_DISK_CACHE])
    summary = SUMMARY.search(done.stderr)
    if summary is None:
        raise VmmError(f"the bench's `vmm run` failed: {done.stderr.decode(errors='replace').strip()}")
    return _measured(seconds, float(summary.group(2)), done.stdout, instructions=int(summary.group(1)))


def startup(image, engines=("vmm-jit", "qemu")):
    """Whole-process seconds of `vmm run IMAGE` (jit) and of qemu-system-i386 -kernel IMAGE."""
    run = {"vmm-jit": lambda: _python(["-m", "vmm", "run", str(image), NO_DISK_CACHE]),
           "qemu": lambda: _process(qemu_command(image))}
    return {engine: run[engine]()[0] for engine in engines}


def native_guest(iters):
    """The benchmark compiled natively with gcc -m32 -O2, as a Linux process."""
    if not NATIVE.exists():
        if shutil.which("gcc") is None:
            raise Missing("gcc not found: apt-get install gcc-multilib")
        built = subprocess.run(["make", "-C", str(EXAMPLES), "native"], capture_output=True)
        if built.returncode != 0 or not NATIVE.exists():
            raise Missing("cannot build the native benchmark (gcc -m32): apt-get install gcc-multilib")
    seconds, done = _process([str(NATIVE), f"iters={iters}"])
    return _measured(seconds, None, done.stdout)


def _unicorn():
    try:
        import unicorn
        from unicorn import x86_const
    except ImportError as error:
        raise Missing(f"unicorn cannot be imported by {sys.executable} ({error}): "
                      f"{sys.executable} -m pip install unicorn") from error
    return unicorn, x86_const


def _run_unicorn(setup, memory_mb=16):
    """Run a guest in Unicorn with port I/O hooked (COM1 output, debug-exit); (seconds, output)."""
    unicorn, X = _unicorn()
    uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
    uc.mem_map(0, memory_mb << 20)
    start_eip = setup(uc, X)
    output = bytearray()

    def on_in(uc, port, size, user):
        return 0x60 if port == 0x3FD else 0xFF        # LSR: transmitter empty

    def on_out(uc, port, size, value, user):
        if port == 0x3F8:
            output.append(value & 0xFF)
        elif port == 0xF4:
            uc.emu_stop()

    uc.hook_add(unicorn.UC_HOOK_INSN, on_in, None, 1, 0, X.UC_X86_INS_IN)
    uc.hook_add(unicorn.UC_HOOK_INSN, on_out, None, 1, 0, X.UC_X86_INS_OUT)
    start = time.perf_counter()
    uc.emu_start(start_eip, 0xFFFFFFFF)              # hlt or the debug-exit hook ends it
    return time.perf_counter() - start, bytes(output)


def unicorn_guest(iters, memory_mb=16):
    """(seconds of the run, checksum) of Unicorn running the bench guest image, in this process."""
    def setup(uc, X):
        memory = PhysicalMemory(memory_mb << 20)
        boot = load_image(str(BENCH_IMAGE), memory, cmdline=f"iters={iters}")
        uc.mem_write(0, bytes(memory.buf[:memory.size]))
        for name, value in boot.regs.items():
            uc.reg_write(getattr(X, f"UC_X86_REG_{name.upper()}"), value)
        return boot.entry
    seconds, output = _run_unicorn(setup, memory_mb)
    return seconds, _checksum(output)


def unicorn_process(iters):
    """A Python process running `unicorn_guest` (it prints its run's seconds and the output)."""
    _unicorn()
    seconds, done = _python(["-c", "import sys; from vmm.bench.peers import unicorn_guest; "
                                   "print('%s checksum=%s' % unicorn_guest(int(sys.argv[1])))", str(iters)])
    if done.returncode != 0:
        raise VmmError(f"the bench's Unicorn process failed: {done.stderr.decode(errors='replace').strip()}")
    run, output = done.stdout.split(maxsplit=1)
    return _measured(seconds, float(run), output)


def unicorn_micro(code):
    """Seconds for Unicorn to run a nanobenchmark (flat code at ORIGIN, ends in hlt)."""
    def setup(uc, X):
        uc.mem_write(ORIGIN, code)
        return ORIGIN
    return _run_unicorn(setup)[0]
