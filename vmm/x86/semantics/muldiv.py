"""Multiply and divide: mul, imul (one, two and three operands), div, idiv (#DE).

Products are formed at twice the width; the lazy MUL flag op takes a value
that is nonzero exactly when CF=OF=1.  Divide checks for #DE before any
register is written, and never hands the builder a division that could trap
on the host (divisor 0, or INT_MIN / -1).

Example:
    muldiv.idiv(b, insn)     # insn = "idiv ecx"; raises #DE on overflow
"""

from .. import flags as F
from ..exceptions import DE
from ..operands import read, write
from ..state import EAX, EDX


def _accumulator(b, w):
    """The double-width dividend AX / DX:AX / EDX:EAX as a 2w-bit value."""
    if w == 8:
        return b.reg(EAX, 16, 0)
    lo = b.zext(b.reg(EAX, w, 0), w, 2 * w)
    hi = b.zext(b.reg(EDX, w, 0), w, 2 * w)
    return b.or_(b.shl(hi, b.const(w, 2 * w), 2 * w), lo, 2 * w)


def _store_pair(b, w, lo, hi):
    """AL,AH / AX,DX / EAX,EDX <- lo, hi."""
    if w == 8:
        b.set_reg(EAX, lo, 8, 0)
        b.set_reg(EAX, hi, 8, 8)
    else:
        b.set_reg(EAX, lo, w, 0)
        b.set_reg(EDX, hi, w, 0)


def _halves(b, product, w):
    return b.trunc(product, 2 * w, w), b.trunc(b.lshr(product, b.const(w, 2 * w), 2 * w), 2 * w, w)


def mul(b, i):
    w = i.ops[0].w
    src = read(b, i.ops[0])
    product = b.mul(b.zext(b.reg(EAX, w, 0), w, 2 * w), b.zext(src, w, 2 * w), 2 * w)
    lo, hi = _halves(b, product, w)
    _store_pair(b, w, lo, hi)
    b.set_cc(F.MUL, w, lo, hi)


def imul(b, i):
    if len(i.ops) == 1:
        w = i.ops[0].w
        a, c = b.reg(EAX, w, 0), read(b, i.ops[0])
    else:
        dst = i.ops[0]
        w = dst.w
        a, c = read(b, i.ops[-2]), read(b, i.ops[-1], w=w)
    product = b.mul(b.sext(a, w, 2 * w), b.sext(c, w, 2 * w), 2 * w)
    lo, hi = _halves(b, product, w)
    overflow = b.xor(hi, b.ashr(lo, b.const(w - 1, w), w), w)     # hi is not lo's sign fill
    if len(i.ops) == 1:
        _store_pair(b, w, lo, hi)
    else:
        write(b, i.ops[0], lo)
    b.set_cc(F.MUL, w, lo, overflow)


def div(b, i):
    w = i.ops[0].w
    ww = 2 * w
    divisor = read(b, i.ops[0])
    b.raise_if(b.eq(divisor, b.const(0, w), w), DE)
    dividend, d = _accumulator(b, w), b.zext(divisor, w, ww)
    q = b.udiv(dividend, d, ww)
    b.raise_if(b.ult(b.const((1 << w) - 1, ww), q, ww), DE)
    r = b.urem(dividend, d, ww)
    _store_pair(b, w, b.trunc(q, ww, w), b.trunc(r, ww, w))


def idiv(b, i):
    w = i.ops[0].w
    ww = 2 * w
    divisor = read(b, i.ops[0])
    dividend, d = _accumulator(b, w), b.sext(divisor, w, ww)
    host_trap = b.and_(b.eq(dividend, b.const(1 << (ww - 1), ww), ww), b.eq(d, b.const(-1, ww), ww), 1)
    b.raise_if(b.or_(b.eq(divisor, b.const(0, w), w), host_trap, 1), DE)
    q = b.sdiv(dividend, d, ww)
    fits = b.eq(b.sext(b.trunc(q, ww, w), w, ww), q, ww)
    b.raise_if(b.xor(fits, b.const(1, 1), 1), DE)
    r = b.srem(dividend, d, ww)
    _store_pair(b, w, b.trunc(q, ww, w), b.trunc(r, ww, w))
