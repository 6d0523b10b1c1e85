"""Differential tests (vs Unicorn) for vmm/x86/semantics/bcd.py, on every engine.

AL is drawn so that both branches of each adjustment are reached (low nibble above 9
or not, AL above 0x99 or not, the AL +- 6 carry into AH); CF and AF come in set and
clear from the random EFLAGS, and from a lazily recorded add/sub in the sequences."""

import pytest
from hypothesis import given, settings, strategies as st

from .differential import check

EDGES = st.sampled_from([0x00, 0x05, 0x06, 0x09, 0x0A, 0x0F, 0x60, 0x66, 0x99, 0x9A, 0x9F, 0xA0, 0xF9,
                         0xFA, 0xFF])
AL = st.builds(lambda high, al: (high & ~0xFF) | al, st.integers(0, 0xFFFFFFFF),
               st.one_of(st.integers(0, 0xFF), EDGES))
ADJUST = ["daa", "das", "aaa", "aas", "add al, bl\ndaa", "sub al, bl\ndas", "add al, bl\naaa",
          "sub al, bl\naas", "add al, bl\njmp n\nn: daa", "cmp al, bl\njmp n\nn: aas"]
AAM_AAD = [f"{op} {base}" for op in ("aam", "aad") for base in (10, 1, 7, 16, 255)] + ["aam", "aad", "aad 0"]


@pytest.mark.parametrize("asm", ADJUST + AAM_AAD)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_bcd(engine, asm, data):
    check(engine, asm, data, regs={"eax": AL, "ebx": st.one_of(st.integers(0, 0x99), st.integers(0, 0xFF))})


@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_aam_zero_is_de(engine, data):
    """aam 0 divides by zero: #DE with EIP on the instruction and AX untouched."""
    check(engine, "mov ecx, 1\naam 0\nmov ecx, 2", data, regs={"eax": AL})
