"""The peers a user would pick instead of vmm, run on the same workloads.

  qemu     qemu-system-i386 (TCG) booting the same multiboot image; its wall time includes
           QEMU's own start-up, measured separately with iters=1 and reported
  unicorn  Unicorn 2 from Python running the same image or nanobenchmark, port I/O hooked
  native   the benchmark's C source built with gcc -m32 -O2 as a Linux program

A peer that is not installed is reported as missing with the command that installs it.

Example:
    PEERS["qemu"].available()    # (False, "apt-get install qemu-system-x86") when absent
"""

import re
import shutil
import subprocess
import time
from pathlib import Path

from ..boot import load_image
from ..memory import PhysicalMemory
from .workloads import BENCH_IMAGE, EXAMPLES, ORIGIN

CHECKSUM = re.compile(rb"checksum=(0x[0-9a-fA-F]+)")
NATIVE = EXAMPLES / "build" / "bench-native"


class Missing(Exception):
    """A peer is not installed; the message says how to install it."""


def _checksum(output):
    match = CHECKSUM.search(output)
    return match.group(1).decode() if match else None


def qemu_guest(iters, memory_mb=128):
    """(seconds, checksum) of qemu-system-i386 running the bench guest."""
    qemu = shutil.which("qemu-system-i386")
    if qemu is None:
        raise Missing("qemu-system-i386 not found: apt-get install qemu-system-x86")
    cmd = [qemu, "-kernel", str(BENCH_IMAGE), "-append", f"iters={iters}", "-m", str(memory_mb),
           "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, timeout=600, stdin=subprocess.DEVNULL)
    return time.perf_counter() - start, _checksum(done.stdout)


def native_guest(iters):
    """(seconds, checksum) of the benchmark compiled natively with gcc -m32 -O2."""
    if not NATIVE.exists():
        if shutil.which("gcc") is None:
            raise Missing("gcc not found: apt-get install gcc-multilib")
        built = subprocess.run(["make", "-C", str(EXAMPLES), "native"], capture_output=True)
        if built.returncode != 0 or not NATIVE.exists():
            raise Missing("cannot build the native benchmark (gcc -m32): apt-get install gcc-multilib")
    start = time.perf_counter()
    done = subprocess.run([str(NATIVE), f"iters={iters}"], capture_output=True, timeout=600)
    return time.perf_counter() - start, _checksum(done.stdout)


def _unicorn():
    try:
        import unicorn
        from unicorn import x86_const
    except ImportError as error:
        raise Missing("unicorn not installed: pip install unicorn") from error
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
    """(seconds, checksum) of Unicorn running the bench guest image."""
    def setup(uc, X):
        memory = PhysicalMemory(memory_mb << 20)
        boot = load_image(str(BENCH_IMAGE), memory, cmdline=f"iters={iters}")
        uc.mem_write(0, bytes(memory.buf[:memory.size]))
        for name, value in boot.regs.items():
            uc.reg_write(getattr(X, f"UC_X86_REG_{name.upper()}"), value)
        return boot.entry
    seconds, output = _run_unicorn(setup, memory_mb)
    return seconds, _checksum(output)


def unicorn_micro(code):
    """Seconds for Unicorn to run a nanobenchmark (flat code at ORIGIN, ends in hlt)."""
    def setup(uc, X):
        uc.mem_write(ORIGIN, code)
        return ORIGIN
    return _run_unicorn(setup)[0]
