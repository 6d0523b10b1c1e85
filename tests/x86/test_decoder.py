"""The decoder's cache: a write to a code granule drops what was decoded there, and only
instructions whose bytes changed are decoded again.  Encodings that do not exist are #UD."""

import pytest
from hypothesis import given, settings, strategies as st

from vmm.memory import PhysicalMemory
from vmm.x86.decoder import Decoder

from tests.asmguest import assemble

from .differential import check


def test_write_to_code_redecodes_only_what_changed():
    memory = PhysicalMemory(1 << 20)
    memory.write(0x1000, assemble("mov eax, 1\nadd eax, ebx\nmov al, 5", 0x1000))
    decoder = Decoder(memory)
    first = [decoder.decode(a) for a in (0x1000, 0x1005, 0x1007)]
    assert [i.text() for i in first] == ["mov eax, 1", "add eax, ebx", "mov al, 5"]
    memory.write(0x1008, b"\x07")                          # mov al, 5 -> mov al, 7
    assert not decoder.cache                               # the whole granule was dropped
    again = [decoder.decode(a) for a in (0x1000, 0x1005, 0x1007)]
    assert again[0] is first[0] and again[1] is first[1]   # same bytes: reused, not re-decoded
    assert again[2] is not first[2] and again[2].text() == "mov al, 7"


def test_a_changed_length_is_decoded_afresh():
    memory = PhysicalMemory(1 << 20)
    memory.write(0x1000, assemble("mov eax, 1", 0x1000))
    decoder = Decoder(memory)
    assert decoder.decode(0x1000).size == 5
    memory.write(0x1000, b"\x40")                          # inc eax (one byte)
    insn = decoder.decode(0x1000)
    assert insn.text() == "inc eax" and insn.size == 1


def test_16_bit_branch_targets_wrap_at_64k():
    """What the translator chains to and the inspector shows: Capstone says 0x10005 here."""
    memory = PhysicalMemory(1 << 20)
    memory.write(0x10001, bytes.fromhex("66e80000") + bytes.fromhex("66e200"))    # call rel16; loopw
    decoder = Decoder(memory)
    assert decoder.decode(0x10001).ops[0].value == 0x0005
    assert decoder.decode(0x10005).ops[0].value == 0x0008


# Not `lock bt [mem], reg`: #UD by the SDM (and in vmm), but QEMU/Unicorn run it.
UNDEFINED = [".byte 0x0f, 0x0b", ".byte 0x0f, 0xb9, 0xc0", ".byte 0xf0, 0x01, 0xd8", ".byte 0x8d, 0xc0", ".byte 0x0f, 0xc7, 0xc8", ".byte 0xf0, 0x90", "mov eax, 1\n.byte 0x0f, 0x0b"]


@pytest.mark.parametrize("asm", UNDEFINED)
@settings(max_examples=3, deadline=None)
@given(data=st.data())
def test_undefined_forms_are_ud(engine, asm, data):
    """ud2, ud1, lock on a register or non-lockable form, lea and cmpxchg8b with a register
    operand: #UD with EIP on the instruction, as on Unicorn."""
    check(engine, asm, data)
