"""vmm.x86.rawdecode reads Capstone's C structures directly; Capstone's own Python binding
(`Cs.disasm`, `CsInsn`) is the oracle: on random byte strings (with prefixes and the
two-byte, x87 and group-5 opcodes mixed in) every field vmm uses must agree."""

import random

from capstone import CS_ARCH_X86, CS_MODE_32, Cs
from capstone import x86 as X

from vmm.x86.rawdecode import RawDecoder

LEADS = [b"", b"\x66", b"\x67", b"\xf3", b"\xf2", b"\xf0", b"\x2e", b"\x64\x66", b"\x0f", b"\xd8", b"\xdd", b"\xff", b"\xe8"]


def operand(op):
    if op.type == X.X86_OP_REG:
        return op.type, op.size, op.reg
    if op.type == X.X86_OP_IMM:
        return op.type, op.size, op.imm
    m = op.mem
    return op.type, op.size, m.segment, m.base, m.index, m.scale, m.disp


def fields(insn):
    return (insn.id, insn.size, insn.mnemonic, insn.op_str, bytes(insn.bytes), bytes(insn.prefix),
            bytes(insn.opcode), insn.modrm, [operand(op) for op in insn.operands],
            [g for g in range(256) if insn.group(g)])


def test_random_instructions_agree_with_capstones_binding():
    rng = random.Random(5)
    cs = Cs(CS_ARCH_X86, CS_MODE_32)
    cs.detail = True
    raw_decoder = RawDecoder(Cs(CS_ARCH_X86, CS_MODE_32))
    decoded = undecodable = 0
    for _ in range(5000):
        raw = (rng.choice(LEADS) + rng.randbytes(15))[:15]
        address = rng.randrange(1 << 32)
        want = next(cs.disasm(raw, address, 1), None)
        got = raw_decoder.decode(raw, address)
        if want is None:
            assert got is None
            undecodable += 1
        else:
            assert fields(got) == fields(want), raw.hex()
            assert got.reg_name(X.X86_REG_EAX) == "eax"
            decoded += 1
    assert decoded > 4000 and undecodable > 10       # both outcomes were exercised
