"""Shifts and rotates: shl/sal shr sar rol ror rcl rcr shld shrd.

The count is masked to 5 bits; a masked count of 0 changes nothing, not even
flags.  With an immediate count that is decided here, statically; with CL it
is a run-time select over the materialised EFLAGS.  Undefined flags (OF for
counts above 1, AF) follow QEMU's formulas, as Unicorn reports them.

Example:
    shift.shl(b, insn)       # insn = "shl eax, cl"
"""

from .. import flags as F
from ..operands import address, read, write


def _count(b, i, n):
    """The masked count as a 32-bit value, and its Python value when it is an immediate."""
    op = i.ops[n] if len(i.ops) > n else None
    if op is None:
        return b.const(1, 32), 1
    if op.kind == "imm":
        c = op.value & 31
        return b.const(c, 32), c
    return b.and_(b.zext(read(b, op), op.w, 32), b.const(31, 32), 32), None


def _record(b, static, count, op, w, dst, src):
    """Set lazy flags for a shift, only when the count is nonzero."""
    if static is not None:
        b.set_cc(op, w, dst, src)
        return
    old = b.eflags()
    new = F.merge_flags(b, old, F.compute_all(b, op, w, dst, src, b.const(0, w)))
    b.set_field("eflags", b.select(b.ne(count, b.const(0, 32), 32), new, old, 32))


def _no_op_shift(b, dst):
    """A count of 0 changes nothing, but a memory operand is still read (it may fault)."""
    if dst.kind == "mem":
        read(b, dst)


def _shift(b, i, widen, shift_fn, op):
    dst = i.ops[0]
    w = dst.w
    count, static = _count(b, i, 1)
    if static == 0:
        _no_op_shift(b, dst)
        return
    addr = address(b, dst, write=True)
    wide = widen(b, read(b, dst, addr), w)
    before_last = b.sub(count, b.const(1, 32), 32)
    result = b.trunc(getattr(b, shift_fn)(wide, count, 32), 32, w) if w < 32 else getattr(b, shift_fn)(wide, count, 32)
    last = getattr(b, shift_fn)(wide, b.and_(before_last, b.const(31, 32), 32), 32)
    last = b.trunc(last, 32, w) if w < 32 else last
    if static is None:
        result = b.select(b.ne(count, b.const(0, 32), 32), result, b.trunc(wide, 32, w) if w < 32 else wide, w)
    write(b, dst, result, addr)
    _record(b, static, count, op, w, result, last)


def _zext32(b, x, w):
    return b.zext(x, w, 32) if w < 32 else x


def _sext32(b, x, w):
    return b.sext(x, w, 32) if w < 32 else x


def shl(b, i):
    _shift(b, i, _zext32, "shl", F.SHL)


def shr(b, i):
    _shift(b, i, _zext32, "lshr", F.SAR)


def sar(b, i):
    _shift(b, i, _sext32, "ashr", F.SAR)


def _rotate_flags(b, static, count, cf, of):
    """Rotates write CF and OF (directly into EFLAGS), only when the count is nonzero."""
    old = b.eflags()
    bits = b.or_(b.zext(cf, 1, 32), b.shl(b.zext(of, 1, 32), b.const(11, 32), 32), 32)
    new = b.or_(b.and_(old, b.const(~0x801 & 0xFFFFFFFF, 32), 32), bits, 32)
    if static is None:
        new = b.select(b.ne(count, b.const(0, 32), 32), new, old, 32)
    b.set_field("eflags", new)


def _rotate(b, v, n, back, w, left):
    """v rotated by n (back = width - n, both below w), as two shifts."""
    first, second = (b.shl, b.lshr) if left else (b.lshr, b.shl)
    return b.or_(first(v, n, w), second(v, back, w), w)


def _rol_ror(b, i, left):
    dst = i.ops[0]
    w = dst.w
    count, static = _count(b, i, 1)
    if static == 0:
        _no_op_shift(b, dst)
        return
    addr = address(b, dst, write=True)
    a = read(b, dst, addr)
    n = b.and_(b.trunc(count, 32, w) if w < 32 else count, b.const(w - 1, w), w)
    back = b.and_(b.sub(b.const(w, w), n, w), b.const(w - 1, w), w)
    r = _rotate(b, a, n, back, w, left)
    if left:
        cf = F.bit(b, r, 0, w)
        of = b.xor(cf, F.sign(b, r, w), 1)
    else:
        cf = F.sign(b, r, w)
        of = b.xor(cf, F.bit(b, r, w - 2, w), 1)
    write(b, dst, r, addr)
    _rotate_flags(b, static, count, cf, of)


def rol(b, i):
    _rol_ror(b, i, True)


def ror(b, i):
    _rol_ror(b, i, False)


def _rcl_rcr(b, i, left):
    """Rotate through carry: a (w+1)-bit rotation of CF:value, done in 64 bits."""
    dst = i.ops[0]
    w = dst.w
    count, static = _count(b, i, 1)
    if static is not None:
        static = static % (w + 1)
        count = b.const(static, 32)
        if static == 0:
            _no_op_shift(b, dst)
            return
    elif w < 32:
        count = b.urem(count, b.const(w + 1, 32), 32)
    addr = address(b, dst, write=True)
    a = read(b, dst, addr)
    cf_in = b.zext(b.flag("CF"), 1, 64)
    v = b.or_(b.shl(cf_in, b.const(w, 64), 64), b.zext(a, w, 64), 64)
    n = b.zext(count, 32, 64)
    back = b.sub(b.const(w + 1, 64), n, 64)
    rot = _rotate(b, v, n, back, 64, left)
    r = b.trunc(rot, 64, w)
    if static is None:
        r = b.select(b.ne(count, b.const(0, 32), 32), r, a, w)
    cf = F.bit(b, rot, w, 64)
    of = F.sign(b, b.xor(a, r, w), w)
    write(b, dst, r, addr)
    _rotate_flags(b, static, count, cf, of)


def rcl(b, i):
    _rcl_rcr(b, i, True)


def rcr(b, i):
    _rcl_rcr(b, i, False)


def _double(b, i, left):
    """shld/shrd: shift dst, filling from src, via a 2w-bit concatenation (counts 0..31;
    for 16-bit operands counts above 16 are undefined and not modelled)."""
    dst, src = i.ops[0], i.ops[1]
    w = dst.w
    count, static = _count(b, i, 2)
    if static == 0:
        _no_op_shift(b, dst)
        return
    addr = address(b, dst, write=True)
    a, c = read(b, dst, addr), read(b, src)
    ww = 2 * w
    hi, lo = (a, c) if left else (c, a)
    v = b.or_(b.shl(b.zext(hi, w, ww), b.const(w, ww), ww), b.zext(lo, w, ww), ww)
    n = b.zext(count, 32, ww) if ww > 32 else count
    n1 = b.and_(b.sub(n, b.const(1, ww), ww), b.const(31, ww), ww)
    if left:
        r = b.trunc(b.lshr(b.shl(v, n, ww), b.const(w, ww), ww), ww, w)
        last = b.trunc(b.lshr(b.shl(v, n1, ww), b.const(w, ww), ww), ww, w)
    else:
        r = b.trunc(b.lshr(v, n, ww), ww, w)
        last = b.trunc(b.lshr(v, n1, ww), ww, w)
    if static is None:
        r = b.select(b.ne(count, b.const(0, 32), 32), r, a, w)
    write(b, dst, r, addr)
    _record(b, static, count, F.SHL if left else F.SAR, w, r, last)


def shld(b, i):
    _double(b, i, True)


def shrd(b, i):
    _double(b, i, False)
