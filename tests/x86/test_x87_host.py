"""The x87 against the host CPU (tests/x86/hostfpu.py), on every engine: the whole fnsave
image (exception flags, ES/B, C1, reserved words, FIP/FOP/FDP and selectors included),
EFLAGS and EAX, and every stored byte must be the hardware's.  This covers what Unicorn
gets wrong (test_x87.py lists it): SNaN quieting, fprem/fscale, fisttp's integer
indefinite, constants under every rounding mode, fcomi's OF/SF/AF, exception flags,
unmasked exceptions, stack overflow and underflow; and which instructions report a pending
unmasked exception (#MF) and where."""

import random
import struct

import pytest
from hypothesis import given, settings, strategies as st

from . import hostfpu
from .oracle import DATA_SIZE
from .test_x87 import (ARITH, ARITH_MEMORY, COMPARE, CONSTANTS, FCMOV, FISTTP, LOAD2, LOADS, OPERANDS, STACK, STORES,
                       UNARY, describe, operand_area)

pytestmark = pytest.mark.skipif(hostfpu.harness() is None, reason="needs gcc -m32 (gcc-multilib)")

EPILOGUE = "\nfnsave [edi]\npushfd\npop edx\nand edx, 0x8d5\nmov [edi + 0x300], edx\nmov [edi + 0x304], eax"
PROLOGUE = "xor eax, eax\nfninit\nfldcw word ptr [esi + 0x100]\n"
EXTRA = ["fscale", "fprem", "fprem1", "fnop", "fst st(2)", "fxtract", "fsin", "fptan", "f2xm1", "fyl2x",
         "fbstp tbyte ptr [edi + 0x200]", "fbld tbyte ptr [esi]"]
OVERFLOW = "\n".join(["fld1"] * 9)                         # the ninth push overflows
UNDERFLOW = "fninit\nfadd st(0), st(1)\nfld st(3)\nfstp dword ptr [edi + 0x200]"


def compare(engine, body, seed, unmask=False):
    rng = random.Random(seed)
    data = bytearray(random.Random(seed + 1).randbytes(DATA_SIZE))
    data[OPERANDS:OPERANDS + 0x120] = operand_area(rng)
    if unmask:                                         # some exceptions unmasked: ES and B
        data[OPERANDS + 0x100] &= ~rng.getrandbits(6) & 0xFF
    asm = PROLOGUE + body + EPILOGUE
    ours, host = hostfpu.run_vmm(engine, asm, bytes(data)), hostfpu.run_host(asm, bytes(data))
    if ours != host:
        raise AssertionError(f"{body!r} (seed {seed}) differs from the host CPU:\n{describe(ours, host, 'host')}\n"
                             f"  eflags/eax vmm {ours[0x1700:0x1708].hex()} host {host[0x1700:0x1708].hex()}")


SEEDS = st.integers(0, 2**32 - 1)
ALL = ARITH + ARITH_MEMORY + COMPARE + FCMOV + UNARY + STACK + CONSTANTS + LOADS + STORES + FISTTP + EXTRA


@pytest.mark.parametrize("asm", ALL)
@settings(max_examples=2, deadline=None)
@given(seed=SEEDS)
def test_matches_the_host(engine, asm, seed):
    compare(engine, LOAD2 + asm, seed)


# Before the instruction (twice): nothing, condition codes set, a nearly full stack (the
# second push overflows), a stack with one value (a two-operand form underflows).
PREFIXES = ("", "fcom st(1)\n", "fld1\nfld1\nfld1\nfld1\nfld1\n", "fstp st(0)\n")
FAST_FORMS = ARITH + ARITH_MEMORY + STACK + LOADS + STORES + FISTTP + CONSTANTS + ["fchs", "fabs", "fst st(2)"]


@pytest.mark.parametrize("asm", FAST_FORMS)
@settings(max_examples=2, deadline=None)
@given(seed=SEEDS, prefix=st.sampled_from(PREFIXES))
def test_fast_path_edges(engine, asm, seed, prefix):
    """The fast path of vmm.x86.fpu.native against the hardware where it must hand over to
    the exact helper (stack faults) or keep what the host does not see (C0, C2, C3)."""
    compare(engine, LOAD2 + prefix + asm + "\n" + asm, seed)


@pytest.mark.parametrize("asm", ARITH[:6] + ["fsqrt", "fist word ptr [edi + 0x200]", "fld qword ptr [esi + 0x40]"])
@settings(max_examples=2, deadline=None)
@given(seed=SEEDS)
def test_unmasked_exceptions_set_es_and_b(engine, asm, seed):
    compare(engine, LOAD2 + asm, seed, unmask=True)


@pytest.mark.parametrize("body", [OVERFLOW, UNDERFLOW, OVERFLOW + "\nfnstsw ax\nfnclex\nfnstenv [edi + 0x200]",
                                  "fldz\nfld1\nfdiv st(0), st(1)\nfnstsw ax\nfstp st(0)\nfwait"])
def test_stack_faults_and_environment(engine, body):
    compare(engine, body, 1)


# An unmasked zero divide left pending (ES set), then the instruction, then fwait: where is
# the error reported?  At the instruction if it waits, else at the fwait, or nowhere if the
# instruction cleared it (fnclex, fninit, fnsave) or masked it (fnstenv).
PENDING = "fninit\nfnsave [esi + 0x200]\nfldcw word ptr [esi + 0x100]\nfldz\nfld1\nfdiv st(0), st(1)\n"
AFTER_PENDING = ["fwait", "fnop", "fld1", "fxch st(1)", "fadd st(0), st(1)", "fcomi st(0), st(1)",
                 "fcmovb st(0), st(1)", "fstp qword ptr [edi]", "ffree st(2)", "fincstp",
                 "fldcw word ptr [esi + 0x100]", "fldenv [esi + 0x200]", "frstor [esi + 0x200]",
                 "fnstsw ax", "fnstcw word ptr [edi]", "fnstenv [edi]", "fnsave [edi]", "fnclex", "fninit"]


@pytest.mark.parametrize("insn", AFTER_PENDING)
def test_pending_exception_is_reported_where_the_host_reports_it(engine, insn):
    data = bytearray(DATA_SIZE)
    struct.pack_into("<H", data, 0x500, 0x037B)          # [esi + 0x100]: ZE unmasked
    asm = PENDING + insn + "\nfwait"
    assert hostfpu.vmm_x87_error(engine, asm, bytes(data)) == hostfpu.host_x87_error(asm, bytes(data))
