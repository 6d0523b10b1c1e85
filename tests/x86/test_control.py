"""Differential tests (vs Unicorn) for vmm/x86/semantics/control.py: every branch runs a
taken and a not-taken path that leave different marks in registers."""

import pytest
from hypothesis import given, settings, strategies as st

from .differential import check

CONDITIONS = ("a", "ae", "b", "be", "e", "g", "ge", "l", "le", "ne", "no", "np", "ns", "o", "p", "s")
TAIL = "\nmov eax, 1\njmp done\nt: mov eax, 2\ndone: nop"
JCC = [f"cmp ebx, ecx\nj{cc} t{TAIL}" for cc in CONDITIONS]
# The jcc starts a block of its own, so the translator reads flags recorded in the block
# before: cmp and test take its speculated inline arms, add the flags helper.
ACROSS_BLOCKS = [f"{op}\njmp n\nn: j{cc} t{TAIL}" for op in ("cmp ebx, ecx", "test ebx, ecx", "add ebx, ecx")
                 for cc in CONDITIONS]
OTHER = [f"jecxz t{TAIL}", f"loop t{TAIL}", f"loope t{TAIL}", f"loopne t{TAIL}",
         f"call t{TAIL}", "call f\njmp done\nf: mov edx, 9\nret\ndone: nop",
         "call f\njmp done\nf: ret 8\ndone: nop", "mov edx, t\njmp edx\nmov eax, 1\nt: nop",
         "mov dword ptr [esi], t\ncall dword ptr [esi]\nt: nop", "mov edx, t\ncall edx\nt: nop"]


@pytest.mark.parametrize("asm", JCC + ACROSS_BLOCKS + OTHER)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_control(engine, asm, data):
    check(engine, asm, data, regs={"ecx": st.one_of(st.integers(0, 2), st.integers(0, 0xFFFFFFFF))})
