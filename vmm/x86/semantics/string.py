"""String instructions: movs cmps scas lods stos, with rep / repe / repne and DF.

One execution performs one iteration; under a rep prefix EIP stays on the
instruction until the count (or the ZF condition) ends it, so every
iteration is interruptible and a fault is precise (QEMU does the same).
With a 0x67 prefix SI/DI/CX are used instead of ESI/EDI/ECX.

Example:
    string.movs(b, insn)      # insn = "rep movsd dword ptr es:[edi], dword ptr [esi]"
"""

from .. import flags as F
from ..operands import linear
from ..state import EAX, ECX, ESI, EDI, ES


def _aw(i):
    return 16 if i.addr16 else 32


def _begin(b, i):
    """Under rep: skip the instruction entirely when the count register is already 0."""
    if i.rep or i.repne:
        b.skip_unless(b.ne(b.reg(ECX, _aw(i), 0), b.const(0, _aw(i)), _aw(i)))


def _finish(b, i, zf_matters=False):
    """Under rep: decrement the count and repeat this instruction unless done."""
    if not (i.rep or i.repne):
        return
    aw = _aw(i)
    left = b.sub(b.reg(ECX, aw, 0), b.const(1, aw), aw)
    b.set_reg(ECX, left, aw, 0)
    again = b.ne(left, b.const(0, aw), aw)
    if zf_matters:
        zf = b.flag("ZF")
        again = b.and_(again, zf if i.rep else b.xor(zf, b.const(1, 1), 1), 1)
    b.jump(b.select(again, b.const(i.address, 32), b.const(i.next, 32), 32))


def _pointer(b, i, reg, seg, write=False):
    """(linear address, offset register value) for a read (or `write`) at ESI/EDI."""
    aw = _aw(i)
    offset = b.reg(reg, aw, 0)
    return linear(b, seg, b.zext(offset, aw, 32) if aw == 16 else offset, i.w, write), offset


def _advance(b, i, reg, offset, w):
    aw = _aw(i)
    step = b.select(b.flag("DF"), b.const(-(w // 8), aw), b.const(w // 8, aw), aw)
    b.set_reg(reg, b.add(offset, step, aw), aw, 0)


def _source_seg(i):
    """The segment of the ESI operand (DS unless overridden); EDI always uses ES."""
    return next(op.seg for op in i.ops if op.kind == "mem" and op.base == ESI)


def movs(b, i):
    w = i.w
    _begin(b, i)
    src, si = _pointer(b, i, ESI, _source_seg(i))
    dst, di = _pointer(b, i, EDI, ES, write=True)
    b.store(dst, b.load(src, w), w)
    _advance(b, i, ESI, si, w)
    _advance(b, i, EDI, di, w)
    _finish(b, i)


def _compare(b, i, from_memory):
    """cmps (ESI operand vs EDI operand) or scas (accumulator vs EDI operand)."""
    w = i.w
    _begin(b, i)
    if from_memory:
        src, si = _pointer(b, i, ESI, _source_seg(i))
        a = b.load(src, w)
    else:
        a = b.reg(EAX, w, 0)
    dst, di = _pointer(b, i, EDI, ES)
    c = b.load(dst, w)
    if from_memory:
        _advance(b, i, ESI, si, w)
    _advance(b, i, EDI, di, w)
    b.set_cc(F.SUB, w, b.sub(a, c, w), c)
    _finish(b, i, zf_matters=True)


def cmps(b, i):
    _compare(b, i, True)


def scas(b, i):
    _compare(b, i, False)


def lods(b, i):
    w = i.w
    _begin(b, i)
    src, si = _pointer(b, i, ESI, _source_seg(i))
    b.set_reg(EAX, b.load(src, w), w, 0)
    _advance(b, i, ESI, si, w)
    _finish(b, i)


def stos(b, i):
    w = i.w
    _begin(b, i)
    dst, di = _pointer(b, i, EDI, ES, write=True)
    b.store(dst, b.reg(EAX, w, 0), w)
    _advance(b, i, EDI, di, w)
    _finish(b, i)
