"""Near control transfers: jmp jcc call ret (imm) loop/loope/loopne jecxz.

Direct targets are constants Capstone already resolved; the new EIP is set
with `b.jump`, so the engine and the translator see one exit per transfer.
With a 0x66 prefix the operand size is 16 bits: targets are truncated to
16 bits (EIP & 0xFFFF), call pushes and ret pops a 16-bit IP; the stack
itself stays 32-bit (ESP moves by 2).  A 0x67 prefix makes loop/jcxz count
in CX.

Example:
    control.jcc(b, insn)      # insn = "jne 0x100010"
"""

from ..flags import cond
from ..operands import read
from ..state import ECX, ESP
from .stack import pop_value, push_value


def _operand_size(i):
    return 16 if i.opsize16 else 32


def _target(b, i):
    op = i.ops[0]
    if op.kind == "imm":
        return b.const(op.value & 0xFFFFFFFF, 32)         # 16-bit targets: wrapped by the decoder
    target = read(b, op)
    return b.zext(target, 16, 32) if op.w == 16 else target


def jmp(b, i):
    b.jump(_target(b, i))


def jcc(b, i):
    b.jump(b.select(cond(b, i.spec.cc), _target(b, i), b.const(i.next, 32), 32))


def call(b, i):
    w = _operand_size(i)
    target = _target(b, i)                         # read before the push: "call [esp]"
    push_value(b, b.const(i.next & ((1 << w) - 1), w), w)
    b.jump(target)


def ret(b, i):
    w = _operand_size(i)
    target, esp = pop_value(b, w)
    if i.ops:
        esp = b.add(esp, b.const(i.ops[0].value & 0xFFFF, 32), 32)
    b.set_reg(ESP, esp, 32, 0)
    b.jump(b.zext(target, 16, 32) if w == 16 else target)


def _count_down(b, i):
    aw = 16 if i.addr16 else 32
    left = b.sub(b.reg(ECX, aw, 0), b.const(1, aw), aw)
    b.set_reg(ECX, left, aw, 0)
    return b.ne(left, b.const(0, aw), aw)


def loop(b, i):
    taken = _count_down(b, i)
    if i.spec.cc:
        taken = b.and_(taken, cond(b, i.spec.cc), 1)
    b.jump(b.select(taken, _target(b, i), b.const(i.next, 32), 32))


def jecxz(b, i):
    aw = 16 if i.mnemonic == "jcxz" else 32
    zero = b.eq(b.reg(ECX, aw, 0), b.const(0, aw), aw)
    b.jump(b.select(zero, _target(b, i), b.const(i.next, 32), 32))
