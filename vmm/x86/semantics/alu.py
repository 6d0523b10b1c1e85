"""Integer arithmetic and logic: add adc sub sbb and or xor cmp test inc dec neg not,
and the exchange-and-operate forms xadd, cmpxchg, cmpxchg8b.

Flags are recorded lazily with `b.set_cc`; see vmm.x86.flags for what each
recorded op means.

Example:
    alu.adc(b, insn)          # insn = "adc eax, dword ptr [esi]"
"""

from .. import flags as F
from ..operands import address, read, write
from ..state import EAX, EBX, ECX, EDX


def _operands(b, i, writes=True):
    """(dst, its address, dst value, src value); cmp and test only read dst."""
    dst, src = i.ops
    addr = address(b, dst, write=writes)
    return dst, addr, read(b, dst, addr), read(b, src, w=dst.w)


def _carry_in(b, w):
    return b.zext(b.flag("CF"), 1, w)


def _arith(b, i, op, combine, with_carry):
    """add/adc/sub/sbb: dst <- dst (+|-) src [(+|-) CF], flags recorded lazily as `op`."""
    dst, addr, a, c = _operands(b, i)
    fn = getattr(b, combine)
    r = fn(a, c, dst.w)
    cin = None
    if with_carry:
        cin = _carry_in(b, dst.w)
        r = fn(r, cin, dst.w)
    write(b, dst, r, addr)
    b.set_cc(op, dst.w, r, c, cin)


def add(b, i):
    _arith(b, i, F.ADD, "add", False)


def adc(b, i):
    _arith(b, i, F.ADC, "add", True)


def sub(b, i):
    _arith(b, i, F.SUB, "sub", False)


def sbb(b, i):
    _arith(b, i, F.SBB, "sub", True)


def cmp(b, i):
    dst, _, a, c = _operands(b, i, writes=False)
    b.set_cc(F.SUB, dst.w, b.sub(a, c, dst.w), c)


def _logic(op):
    def sem(b, i):
        dst, addr, a, c = _operands(b, i)
        r = getattr(b, op)(a, c, dst.w)
        write(b, dst, r, addr)
        b.set_cc(F.LOGIC, dst.w, r)
    sem.__name__ = op.rstrip("_")
    sem.__doc__ = f"{sem.__name__} r/m, r/imm: bitwise {sem.__name__}, CF=OF=0"
    return sem


and_, or_, xor = _logic("and_"), _logic("or_"), _logic("xor")


def test(b, i):
    dst, _, a, c = _operands(b, i, writes=False)
    b.set_cc(F.LOGIC, dst.w, b.and_(a, c, dst.w))


def _step(b, i, op, delta):
    dst = i.ops[0]
    addr = address(b, dst, write=True)
    cf = _carry_in(b, dst.w)                     # inc/dec keep CF: it rides along in cc_src
    r = b.add(read(b, dst, addr), b.const(delta, dst.w), dst.w)
    write(b, dst, r, addr)
    b.set_cc(op, dst.w, r, cf)


def inc(b, i):
    _step(b, i, F.INC, 1)


def dec(b, i):
    _step(b, i, F.DEC, -1)


def neg(b, i):
    dst = i.ops[0]
    addr = address(b, dst, write=True)
    a = read(b, dst, addr)
    r = b.neg(a, dst.w)
    write(b, dst, r, addr)
    b.set_cc(F.SUB, dst.w, r, a)                 # 0 - a: CF = (a != 0)


def not_(b, i):
    dst = i.ops[0]
    addr = address(b, dst, write=True)
    write(b, dst, b.not_(read(b, dst, addr), dst.w), addr)


def xadd(b, i):
    dst, src = i.ops
    addr = address(b, dst, write=True)
    a, c = read(b, dst, addr), read(b, src)
    r = b.add(a, c, dst.w)
    if addr is not None:
        write(b, dst, r, addr)
        write(b, src, a)
    else:                                        # xadd eax, eax: the destination is written last
        write(b, src, a)
        write(b, dst, r)
    b.set_cc(F.ADD, dst.w, r, c)


def cmpxchg(b, i):
    dst, src = i.ops
    w = dst.w
    addr = address(b, dst, write=True)
    a, new, acc = read(b, dst, addr), read(b, src), b.reg(EAX, w, 0)
    equal = b.eq(acc, a, w)
    if addr is not None:                         # the destination is always written (locked cycle)
        write(b, dst, b.select(equal, new, a, w), addr)
        b.set_reg(EAX, b.select(equal, acc, a, w), w, 0)
    else:
        b.set_reg(EAX, b.select(equal, acc, a, w), w, 0)
        write(b, dst, b.select(equal, new, a, w))
    b.set_cc(F.SUB, w, b.sub(acc, a, w), a)


def cmpxchg8b(b, i):
    addr = address(b, i.ops[0], write=True)
    old = b.load(addr, 64)
    expected = b.or_(b.shl(b.zext(b.reg(EDX, 32, 0), 32, 64), b.const(32, 64), 64),
                     b.zext(b.reg(EAX, 32, 0), 32, 64), 64)
    new = b.or_(b.shl(b.zext(b.reg(ECX, 32, 0), 32, 64), b.const(32, 64), 64),
                b.zext(b.reg(EBX, 32, 0), 32, 64), 64)
    equal = b.eq(old, expected, 64)
    b.store(addr, b.select(equal, new, old, 64), 64)
    b.set_reg(EAX, b.trunc(old, 64, 32), 32, 0)          # unchanged when equal: old == expected
    b.set_reg(EDX, b.trunc(b.lshr(old, b.const(32, 64), 64), 64, 32), 32, 0)
    b.set_flag("ZF", equal)
