"""Bit tests and scans: bt bts btr btc, bsf bsr.

With a register bit offset and a memory operand, the offset is signed and
selects a word anywhere relative to the operand address (Intel SDM "BT").
Only CF is written; bsf/bsr leave the destination unchanged for a zero
source and set ZF, the other flags as QEMU computes them (a LOGIC op on the
source).

Example:
    bits.bts(b, insn)       # insn = "bts dword ptr [eax], ecx"
"""

from .. import flags as F
from ..operands import address, effective_address, linear, read, write


def _locate(b, i, writes):
    """(operand, linear address or None, bit index within the w-bit word); with a memory
    operand, the word a register bit offset selects is the one checked and accessed."""
    dst, off = i.ops
    w = dst.w
    if off.kind == "imm":
        return dst, address(b, dst, write=writes), b.const(off.value & (w - 1), w)
    bit = read(b, off)
    index = b.and_(bit, b.const(w - 1, w), w)
    if dst.kind != "mem":
        return dst, None, index
    log = w.bit_length() - 1                           # 4 for 16-bit words, 5 for 32-bit
    words = b.ashr(b.sext(bit, w, 32) if w < 32 else bit, b.const(log, 32), 32)
    offset = b.add(effective_address(b, dst), b.shl(words, b.const(log - 3, 32), 32), 32)
    return dst, linear(b, dst.seg, offset, w, writes), index


def _bit_op(b, i, update):
    dst, addr, n = _locate(b, i, writes=update is not None)
    w = dst.w
    value = read(b, dst, addr)
    mask = b.shl(b.const(1, w), n, w)
    if update is not None:
        write(b, dst, update(b, value, mask, w), addr)
    b.set_flag("CF", b.ne(b.and_(value, mask, w), b.const(0, w), w))


def bt(b, i):
    _bit_op(b, i, None)


def bts(b, i):
    _bit_op(b, i, lambda b, v, m, w: b.or_(v, m, w))


def btr(b, i):
    _bit_op(b, i, lambda b, v, m, w: b.and_(v, b.not_(m, w), w))


def btc(b, i):
    _bit_op(b, i, lambda b, v, m, w: b.xor(v, m, w))


def _scan(b, i, count_fn):
    dst, src = i.ops
    w = dst.w
    value = read(b, src)
    found = count_fn(b, value, w)
    write(b, dst, b.select(b.eq(value, b.const(0, w), w), read(b, dst), found, w))
    b.set_cc(F.LOGIC, w, value)


def bsf(b, i):
    _scan(b, i, lambda b, v, w: b.ctz(v, w))


def bsr(b, i):
    _scan(b, i, lambda b, v, w: b.sub(b.const(w - 1, w), b.clz(v, w), w))
