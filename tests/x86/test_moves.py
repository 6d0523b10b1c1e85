"""Differential tests (vs Unicorn) for vmm/x86/semantics/moves.py and flagops.py."""

import pytest
from hypothesis import given, settings, strategies as st

from .differential import check

CONDITIONS = ("a", "ae", "b", "be", "e", "g", "ge", "l", "le", "ne", "no", "np", "ns", "o", "p", "s")
MOVES = ["mov eax, ebx", "mov ax, 0x1234", "mov ah, bl", "mov dword ptr [esi + 4], 0x11223344",
         "mov cl, byte ptr [edi]", "mov word ptr [esi], dx", "mov eax, dword ptr [0x10010]",
         "movzx eax, bl", "movzx ecx, word ptr [esi]", "movzx dx, ah", "movsx eax, bl", "movsx ecx, word ptr [esi]",
         "movsx dx, byte ptr [edi]", "lea eax, [ebx + ecx*4 + 8]", "lea ax, [ebx + ecx]", "lea edx, [ecx*8]",
         "xchg eax, ebx", "xchg cx, dx", "xchg bl, bh", "xchg dword ptr [esi], ecx", "xchg ecx, dword ptr [esi]",
         "bswap eax", "bswap edi", ".byte 0x66, 0x0f, 0xc8",          # bswap ax (undefined: QEMU's zero)
         "xlatb", "cbw", "cwde", "cwd", "cdq", "nop", "nop dword ptr [eax]",
         "prefetchnta byte ptr [esi]", "prefetcht0 byte ptr [eax]", "prefetcht1 byte ptr [edi]",
         "prefetcht2 byte ptr [ebx]", ".byte 0x0f, 0x1c, 0x06", ".byte 0x0f, 0x19, 0x06",   # hint NOPs
         "mov ax, ds", "mov eax, ss", "mov word ptr [esi], es",
         "mov ebx, 0xabcd1000\n.byte 0x67\nxlatb",         # 0x67: the table is at BX (here: code bytes)
         "lea eax, [bx + si + 0x10]", "lea ax, [bp + di - 2]", "mov al, byte ptr [bp + di - 2]",
         "mov ecx, dword ptr [bx + 0x1000]"]                # 16-bit addressing: offsets wrap at 64K
CONDITIONAL = [f"set{cc} al" for cc in CONDITIONS] + [f"set{cc} byte ptr [esi]" for cc in ("e", "l", "a")]
CONDITIONAL += [f"cmov{cc} eax, ebx" for cc in CONDITIONS] + ["cmovne cx, word ptr [esi]", "cmovl eax, dword ptr [edi]"]
FLAGS = ["clc", "stc", "cmc", "cld", "std", "lahf", "sahf", "cmp eax, ebx\nlahf", "add eax, ebx\ncmc"]


@pytest.mark.parametrize("asm", MOVES + CONDITIONAL + FLAGS)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_moves(engine, asm, data):
    check(engine, asm, data, regs={"ebx": st.one_of(st.integers(0, 0x1000), st.integers(0, 0xFFFFFFFF)),
                                   "ecx": st.integers(0, 0x100)}, df=True)
