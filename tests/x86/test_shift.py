"""Differential tests (vs Unicorn) for vmm/x86/semantics/shift.py, on every engine."""

import pytest
from hypothesis import given, settings, strategies as st

from .differential import check

COUNTS = st.one_of(st.integers(0, 40), st.integers(0, 0xFFFFFFFF))
SHIFTS = [f"{op} {dst}, {count}" for op in ("shl", "shr", "sar", "rol", "ror", "rcl", "rcr")
          for dst in ("eax", "bx", "dl", "ch", "dword ptr [esi]", "word ptr [edi]", "byte ptr [esi + 3]")
          for count in ("1", "cl", "7")]
EXTRA_COUNTS = [f"{op} eax, {n}" for op in ("shl", "shr", "sar", "rol", "ror", "rcl", "rcr") for n in (0, 31, 16)]
EXTRA_COUNTS += [f"{op} al, {n}" for op in ("rcl", "rcr", "rol", "shl") for n in (8, 9, 10)]
DOUBLE = [f"{op} {dst}, {src}, {count}" for op in ("shld", "shrd")
          for dst, src in (("eax", "ebx"), ("dword ptr [esi]", "ecx"))
          for count in ("1", "cl", "13", "0", "31")]
DOUBLE16 = [f"{op} ax, bx, {n}" for op in ("shld", "shrd") for n in (1, 5, 15, 16)]
ALIASES = [".byte 0xd0, 0xf0", ".byte 0xc1, 0xf3, 0x03", ".byte 0xd3, 0xf6"]    # sal: /6, an alias of shl /4


@pytest.mark.parametrize("asm", SHIFTS + EXTRA_COUNTS + DOUBLE + DOUBLE16 + ALIASES)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_shift(engine, asm, data):
    check(engine, asm, data, regs={"ecx": COUNTS})


@pytest.mark.parametrize("op", ["shld", "shrd"])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_double_shift16_cl(engine, op, data):
    """16-bit shld/shrd by CL: counts above 16 are undefined and not modelled (documented)."""
    check(engine, f"{op} ax, bx, cl", data, regs={"ecx": st.integers(0, 16)})


@pytest.mark.parametrize("asm", ["shl dword ptr [0x200000], 0", "rol byte ptr [0x200000], 0",
                                 "rcr word ptr [0x200000], 0", "shld dword ptr [0x200000], eax, 0"])
def test_count_zero_still_reads_its_memory_operand(engine, asm):
    """A shift by 0 changes nothing, but its operand is read: outside RAM that faults, as on
    Unicorn (found by the fuzz harness)."""
    from tests.asmguest import run_asm
    m, result = run_asm(engine, asm)
    assert result.reason == "error" and "outside guest RAM" in result.message
