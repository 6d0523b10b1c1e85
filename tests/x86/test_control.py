"""Differential tests (vs Unicorn) for vmm/x86/semantics/control.py: every branch runs a
taken and a not-taken path that leave different marks in registers."""

import pytest
from hypothesis import given, settings, strategies as st

from tests.asmguest import assemble as assemble_at, machine_with, run_asm

from .differential import check
from .oracle import CODE, assemble

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


# 16-bit operand size (0x66): targets are EIP & 0xFFFF, call pushes and ret pops 16 bits.
# Keystone has no spelling for most of these forms, so they are written as bytes.
LANDING = 0xF000          # reached only by a target that wraps at 64K (else 0xFFFFF000: no RAM)
JMP_BACK, RET16 = "jmp", "ret16"


def _wrapping(opcode, before="", landing=JMP_BACK):
    """`before`, then `opcode` with a rel16 aimed at LANDING through the 64K wrap, then a
    fall-through path.  The snippet first writes the landing code: a jmp to its last
    instruction, or a 16-bit ret (back after a 16-bit call)."""
    def build(back):
        if landing == JMP_BACK:
            store = f"mov byte ptr [{LANDING:#x}], 0xe9\nmov dword ptr [{LANDING + 1:#x}], {back:#x}"
        else:
            store = f"mov word ptr [{LANDING:#x}], 0xc366"
        head = f"{store}\n{before}\n.byte {opcode}"
        rel = (LANDING - (CODE + len(assemble(head)) + 2)) & 0xFFFF
        return f"{head}\n.word {rel:#x}\nmov eax, 1\nnop"
    done = CODE + len(assemble(build(0))) - 1
    return build((done - (LANDING + 5)) & 0xFFFFFFFF)


WRAPPED = [_wrapping("0x66, 0xe9"), _wrapping("0x66, 0xe8"), _wrapping("0x66, 0xe8", landing=RET16),
           _wrapping("0x66, 0x0f, 0x84", before="cmp ebx, ecx"), _wrapping("0x66, 0x0f, 0x8c", before="cmp ebx, ecx")]
TO_T = "\nmov ecx, 1\nt: nop"
SIXTEEN = [f"mov eax, t\nor eax, 0xabcd0000\npush eax\n.byte 0x66, 0xc3{TO_T}",
           f"mov eax, t\nor eax, 0xabcd0000\npush eax\n.byte 0x66, 0xc2, 0x06, 0x00{TO_T}",
           f"mov eax, t\nor eax, 0xffff0000\ncall ax{TO_T}", f"mov eax, t\nor eax, 0xffff0000\njmp ax{TO_T}",
           f"mov eax, t\nor eax, 0x12340000\nmov dword ptr [esi], eax\ncall word ptr [esi]{TO_T}",
           f"mov eax, t\nor eax, 0x12340000\nmov dword ptr [esi], eax\njmp word ptr [esi]{TO_T}",
           f"jcxz t{TAIL}", f".byte 0x67\nloop t{TAIL}", f".byte 0x67\nloope t{TAIL}", f".byte 0x67\nloopne t{TAIL}",
           f".byte 0x66\nloop t{TAIL}", f".byte 0x66\njecxz t{TAIL}"]
CX = st.one_of(st.integers(0, 2), st.integers(0, 0xFFFFFFFF), st.integers(0, 2).map(lambda n: n | 0x10000))


@pytest.mark.parametrize("asm", WRAPPED + SIXTEEN)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_operand_size_16(engine, asm, data):
    check(engine, asm, data, regs={"ecx": CX, "ebx": st.one_of(st.integers(0, 2), st.integers(0, 0xFFFFFFFF))})


def test_16_bit_call_above_64k_wraps(engine):
    """At 0x10000 (out of the oracle's reach) `call rel16` goes to (next + rel) & 0xFFFF and
    pushes next & 0xFFFF, whatever Capstone shows as the target (0x20000 here)."""
    m = machine_with(engine, "inc ebx\n.byte 0x66, 0xe8, 0xfb, 0xff", origin=0x10000)
    m.mem_write(0, assemble_at("mov eax, 7\ncli\nhlt", 0))
    result = m.run(max_insns=100)
    assert result.reason == "halt" and m.reg_read("eax") == 7 and m.reg_read("eip") == 7
    assert m.reg_read("esp") == 0x80000 - 2 and m.mem_read(0x80000 - 2, 2) == b"\x05\x00"
