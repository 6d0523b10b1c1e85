"""Differential tests (vs Unicorn) for vmm/x86/semantics/stack.py, on every engine."""

import pytest
from hypothesis import given, settings, strategies as st

from .differential import check

FORMS = ["push eax", "push esp", "push 5", "push -2", "push 0x12345678", "push word ptr [esi]", "push ax",
         "push dword ptr [esi + 4]", "pop eax", "pop esp", "pop dword ptr [esi]", "pop dword ptr [esp + 4]",
         "pop dword ptr [esp]", "pop ax", "pushal", "popal", "pushaw", "popaw", "pushfd", "popfd",
         "pushfd\npop eax", "push ecx\npopfd", "pushf", "enter 16, 0", "enter 8, 1", "enter 4, 3",
         "leave", "push ds", "push ss",
         # 0x66: 16-bit frame pointers on the 32-bit stack
         ".byte 0x66\nenter 8, 0", ".byte 0x66\nenter 6, 1", ".byte 0x66\nenter 4, 3", ".byte 0x66\nleave",
         "enter 0, 31", ".byte 0xc8, 0x04, 0x00, 0x21",                  # nesting level 33 & 31 = 1
         ".byte 0x66, 0x6a, 0xfe", ".byte 0x66, 0x68, 0x34, 0x12"]        # push imm8/imm16 as 16 bits


@pytest.mark.parametrize("asm", FORMS)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_stack(engine, asm, data):
    check(engine, asm, data, regs={"ebp": st.integers(0x1E800, 0x1F000)})
