"""EFLAGS.TF on every engine: a #DB trap (vector 1) after each instruction that starts with
TF set, with EIP after the instruction (SDM vol. 3, 17.3.1.4): the popf that sets TF is not
trapped, the one that clears it is, and the handler (an interrupt gate clears TF) is not."""

import struct

from tests.asmguest import FLAT_TABLES, ORIGIN, assemble, new_machine, set_gate

SOURCE = """
    lgdt [gdtr]
    lidt [idtr]
    pushfd
    or dword ptr [esp], 0x100
    popfd
    nop
    nop
    pushfd
    and dword ptr [esp], 0xfffffeff
    popfd
    nop
    cli
    hlt
db_handler:
    mov eax, [0x7000]
    mov ebx, [esp]
    mov [0x7010 + eax*4], ebx
    inc dword ptr [0x7000]
    iretd
""" + FLAT_TABLES


def test_single_step_traps_after_each_instruction(engine):
    m = new_machine(engine)
    code = assemble(SOURCE)
    m.mem_write(ORIGIN, code)
    set_gate(m, 1, ORIGIN + code.index(bytes.fromhex("a100700000")))     # mov eax, [0x7000]
    m.reg_write("eip", ORIGIN)
    m.reg_write("esp", 0x80000)
    result = m.run(max_insns=1000)
    assert result.reason == "halt", result.message
    count = struct.unpack("<I", m.mem_read(0x7000, 4))[0]
    returns = struct.unpack("<5I", m.mem_read(0x7010, 20))
    popf_on = ORIGIN + code.index(bytes.fromhex("9d"))               # the first popfd
    assert count == 5
    # after: nop, nop, pushfd, and [esp], popfd (the one that clears TF)
    assert returns[0] == popf_on + 2 and returns[1] == popf_on + 3 and returns[2] == popf_on + 4
    assert returns[4] == ORIGIN + code.index(bytes.fromhex("9d"), popf_on - ORIGIN + 1) + 1
