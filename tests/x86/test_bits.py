"""Differential tests (vs Unicorn) for vmm/x86/semantics/bits.py, on every engine."""

import pytest
from hypothesis import given, settings, strategies as st

from .differential import check

BIT_OFFSETS = st.integers(-2000, 2000).map(lambda n: n & 0xFFFFFFFF)
BT = [f"{op} {dst}, {off}" for op in ("bt", "bts", "btr", "btc") for dst, off in (
    ("eax", "ecx"), ("bx", "cx"), ("eax", "5"), ("dx", "17"), ("dword ptr [esi]", "7"),
    ("word ptr [edi]", "3"), ("dword ptr [edi + 0x200]", "ecx"), ("word ptr [edi + 0x200]", "cx"))]
SCAN = [f"{op} {dst}, {src}" for op in ("bsf", "bsr") for dst, src in (
    ("eax", "ebx"), ("cx", "dx"), ("eax", "dword ptr [esi]"))]


@pytest.mark.parametrize("asm", BT)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_bit_test(engine, asm, data):
    check(engine, asm, data, regs={"ecx": BIT_OFFSETS})


@pytest.mark.parametrize("asm", SCAN)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_bit_scan(engine, asm, data):
    check(engine, asm, data, regs={"ebx": st.one_of(st.just(0), st.integers(0, 0xFFFFFFFF)),
                                   "edx": st.one_of(st.just(0), st.integers(0, 0xFFFF))})


# tzcnt/lzcnt encodings (F3 0F BC/BD) on vmm's CPU model, which has no BMI1/ABM, are bsf/bsr
# with an ignored prefix.  Unicorn's model has them, so it runs bsf/bsr behind a DS prefix.
REP_SCAN = [(f".byte 0xf3\n{op} {operands}", f".byte 0x3e\n{op} {operands}")
            for op in ("bsf", "bsr") for operands in ("eax, ebx", "cx, dx", "eax, dword ptr [esi]")]


@pytest.mark.parametrize("asm, oracle_asm", REP_SCAN)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_rep_bit_scan_is_a_bit_scan(engine, asm, oracle_asm, data):
    check(engine, asm, data, oracle_asm=oracle_asm,
          regs={"ebx": st.one_of(st.just(0), st.integers(0, 0xFFFFFFFF)),
                "edx": st.one_of(st.just(0), st.integers(0, 0xFFFF))})
