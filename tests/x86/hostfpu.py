"""The host CPU as an x87 oracle: a snippet run natively in a 32-bit process (gcc -m32
harness tests/x86/native/run_snippet.c) and on a vmm engine, from the same data region.

Unicorn's x87 is QEMU 5.0's, which differs from hardware in places (see test_x87.py); a
native run is real hardware.  Code sits at CODE in both, the data region at DATA with ESI
and EDI pointing into it, and CS/DS selectors are the host process's, so even FIP and the
fnsave image's selectors agree.  The snippet leaves its results in the data region.

Example:
    asm = "fninit\\nfld1\\nfnsave [edi]"
    assert run_vmm("interp", asm, data) == run_host(asm, data)
"""

import ctypes
import functools
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

from keystone import Ks, KS_ARCH_X86, KS_MODE_32

from tests.asmguest import new_machine
from vmm.x86.exceptions import MF
from vmm.x86.state import CR0_ET, CR0_NE, CR0_PE, reset_fpu

from .oracle import DATA, DATA_SIZE, POINTERS

CODE = 0x20000
SOURCE = Path(__file__).parent / "native" / "run_snippet.c"
HOST_CS, HOST_DS = 0x23, 0x2B              # Linux's 32-bit user selectors
PROTECTED = CR0_PE | CR0_ET                # the machine's CR0 (vmm.machine)


@functools.lru_cache(maxsize=None)
def harness():
    """Path of the compiled harness, or None when gcc cannot build 32-bit programs here."""
    if shutil.which("gcc") is None:
        return None
    out = Path(tempfile.mkdtemp(prefix="vmm-x87-")) / "run_snippet"
    built = subprocess.run(["gcc", "-m32", "-O1", "-o", str(out), str(SOURCE)], capture_output=True)
    return out if built.returncode == 0 else None


def _assemble(asm):
    encoding, _ = Ks(KS_ARCH_X86, KS_MODE_32).asm(asm, CODE)
    return bytes(encoding)


def _run_host(asm, data):
    code = _assemble(asm + "\nret")
    done = subprocess.run([str(harness())], input=struct.pack("<I", len(code)) + code + data,
                          capture_output=True, timeout=10)
    assert done.returncode == 0, f"native harness failed ({done.returncode}) for {asm!r}"
    return done


def run_host(asm, data):
    return _run_host(asm, data).stdout


def host_x87_error(asm, data):
    """Where the host CPU reported an x87 error (#MF, SIGFPE): the faulting instruction's
    offset in the code, or None if the snippet ran to its end."""
    report = _run_host(asm, data).stderr.decode()
    return int(report.split()[1], 16) if report.startswith("sigfpe") else None


@functools.lru_cache(maxsize=None)
def _machine(engine):
    return new_machine(engine, memory_mb=1)


def _run_vmm(engine, asm, data, cr0):
    """(machine, RunResult, code) of the snippet on `engine`, CR0 = `cr0`."""
    m = _machine(engine)
    m.state.cr[0], m.state.ferr = cr0, 0
    m.mem_write(0, bytes(0x30000))
    ctypes.memset(ctypes.addressof(m.state.fpu), 0, ctypes.sizeof(m.state.fpu))   # a new process's
    reset_fpu(m.state.fpu)                     # registers are zero; fninit keeps what is there
    code = _assemble(asm)
    m.mem_write(CODE, code)
    m.mem_write(DATA, data)
    for name, value in POINTERS.items():
        m.reg_write(name, value)
    m.reg_write("esi", DATA + 0x400)
    m.reg_write("edi", DATA + 0x1400)
    m.reg_write("esp", 0x80000)
    m.reg_write("eip", CODE)
    for seg in ("es", "ss", "ds", "fs", "gs"):
        m.reg_write(seg, HOST_DS)
    m.reg_write("cs", HOST_CS)
    # CS has RPL 3, as in a Linux process, so FCS matches the host's; at CPL 3 hlt would
    # fault, so the run stops after the snippet's instructions instead.
    count = sum(1 for line in asm.splitlines() if line.strip())
    return m, m.run(max_insns=count), code


def run_vmm(engine, asm, data):
    m, result, code = _run_vmm(engine, asm, data, PROTECTED)
    assert result.reason == "limit" and m.state.eip == CODE + len(code), \
        f"vmm: {result.reason} {result.message} at {m.state.eip:#x} for {asm!r}"
    return m.mem_read(DATA, DATA_SIZE)


def vmm_x87_error(engine, asm, data):
    """Where vmm raised #MF (CR0.NE set, as under Linux; with no IDT the run stops there):
    the faulting instruction's offset in the code, or None if the snippet ran to its end."""
    m, result, code = _run_vmm(engine, asm, data, PROTECTED | CR0_NE)
    if result.fault == MF:
        return m.state.eip - CODE
    assert result.reason == "limit" and m.state.eip == CODE + len(code), \
        f"vmm: {result.reason} {result.message} at {m.state.eip:#x} for {asm!r}"
    return None
