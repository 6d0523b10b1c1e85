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
