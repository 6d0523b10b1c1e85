"""Differential tests (vs Unicorn) for vmm/x86/semantics/legacy.py: bound (in range and #BR),
arpl (RPL raised or not, ZF), salc (CF set and clear), on every engine."""

import pytest
from hypothesis import given, settings, strategies as st

from .differential import check

# Bounds at [esi] (32-bit pair) and [edi] (16-bit pair) are stored by the snippet, so the
# index lands below, inside and above the range about equally often.
BOUNDS32 = "mov dword ptr [esi], ebx\nmov dword ptr [esi + 4], edx\n"
BOUNDS16 = "mov word ptr [edi], bx\nmov word ptr [edi + 2], dx\n"
BOUND = [BOUNDS32 + "bound ecx, qword ptr [esi]\nmov eax, 1", BOUNDS16 + "bound cx, dword ptr [edi]\nmov eax, 1",
         "bound eax, qword ptr [esi + 8]"]
ARPL = ["arpl ax, cx", "arpl word ptr [esi], cx", "arpl bx, bx", "arpl word ptr [edi + 6], dx"]
SALC = ["salc", "cmp eax, ebx\nsalc", "stc\nsalc", "clc\nsalc"]
SMALL = st.one_of(st.integers(0, 40), st.integers(0xFFFFFFF0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF))


@pytest.mark.parametrize("asm", BOUND + ARPL + SALC)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_legacy(engine, asm, data):
    check(engine, asm, data, regs={"eax": SMALL, "ebx": SMALL, "ecx": SMALL, "edx": SMALL})
