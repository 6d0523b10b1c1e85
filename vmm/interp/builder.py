"""The concrete builder: evaluates the shared semantics on Python ints, immediately.

Every value is a non-negative Python int already masked to its width, so most
operations are one Python expression.  State lives in the shared ctypes
`CpuState`; memory accesses go through the machine's MMU (`mmu.read`/`write`
on linear addresses), the single entry point both engines use.

Example:
    b = InterpBuilder(state, mmu)
    b.begin(insn)                 # what `jump`/`skip_unless` refer to
    b.add(0xFFFFFFFF, 1, 32)      # -> 0
"""

import ctypes

from ..errors import GuestFault
from ..x86 import flags
from ..x86.builder import Builder
from ..x86.fpu import native as native_helpers

_MASK = {1: 1, 8: 0xFF, 16: 0xFFFF, 32: 0xFFFFFFFF, 64: 0xFFFFFFFFFFFFFFFF}


class SkipRest(Exception):
    """Raised by `skip_unless`: the rest of the instruction is skipped, EIP = next."""


def _signed(x, w):
    return x - (1 << w) if x >> (w - 1) else x


class InterpBuilder(Builder):
    """Python-int builder over a CpuState and an MMU (see vmm.x86.builder for the contract)."""

    def __init__(self, state, mmu):
        self.state = state
        self.mmu = mmu
        self.gpr = state.gpr
        self.insn = None
        self.target = None

    def begin(self, insn):
        self.insn = insn
        self.target = None

    # ---- arithmetic ---------------------------------------------------------------------
    def const(self, v, w):
        return v & _MASK[w]

    def add(self, x, y, w):
        return (x + y) & _MASK[w]

    def sub(self, x, y, w):
        return (x - y) & _MASK[w]

    def mul(self, x, y, w):
        return (x * y) & _MASK[w]

    def and_(self, x, y, w):
        return x & y

    def or_(self, x, y, w):
        return x | y

    def xor(self, x, y, w):
        return x ^ y

    def not_(self, x, w):
        return x ^ _MASK[w]

    def neg(self, x, w):
        return -x & _MASK[w]

    def shl(self, x, n, w):
        return (x << n) & _MASK[w]

    def lshr(self, x, n, w):
        return x >> n

    def ashr(self, x, n, w):
        return (_signed(x, w) >> n) & _MASK[w]

    def udiv(self, x, y, w):
        return x // y

    def urem(self, x, y, w):
        return x % y

    def sdiv(self, x, y, w):
        a, b = _signed(x, w), _signed(y, w)
        q = abs(a) // abs(b)
        return (q if (a < 0) == (b < 0) else -q) & _MASK[w]

    def srem(self, x, y, w):
        a, b = _signed(x, w), _signed(y, w)
        r = abs(a) % abs(b)
        return (-r if a < 0 else r) & _MASK[w]

    def zext(self, x, wf, wt):
        return x

    def sext(self, x, wf, wt):
        return (x - (1 << wf)) & _MASK[wt] if x >> (wf - 1) else x

    def trunc(self, x, wf, wt):
        return x & _MASK[wt]

    def eq(self, x, y, w):
        return int(x == y)

    def ne(self, x, y, w):
        return int(x != y)

    def ult(self, x, y, w):
        return int(x < y)

    def ule(self, x, y, w):
        return int(x <= y)

    def slt(self, x, y, w):
        return int(_signed(x, w) < _signed(y, w))

    def sle(self, x, y, w):
        return int(_signed(x, w) <= _signed(y, w))

    def select(self, c, x, y, w):
        return x if c else y

    def ctpop(self, x, w):
        return x.bit_count()

    def ctz(self, x, w):
        return (x & -x).bit_length() - 1 if x else w

    def clz(self, x, w):
        return w - x.bit_length()

    def bswap(self, x, w):
        return int.from_bytes(x.to_bytes(w // 8, "little"), "big")

    # ---- state ---------------------------------------------------------------------------
    def reg(self, index, w, shift):
        value = self.gpr[index]
        if w == 32:
            return value
        return (value >> shift) & _MASK[w]

    def set_reg(self, index, v, w, shift):
        if w == 32:
            self.gpr[index] = v
        else:
            mask = _MASK[w] << shift
            self.gpr[index] = (self.gpr[index] & ~mask) | (v << shift)

    def field(self, name):
        return _FIELDS[name][0](self.state)

    def set_field(self, name, v):
        _FIELDS[name][1](self.state, v)

    def seg_base(self, seg):
        return self.state.seg[seg].base

    def seg_checked(self, seg):
        return self.state.seg_checks >> seg & 1

    def load(self, linear, w):
        return self.mmu.read(linear, w >> 3)

    def store(self, linear, v, w):
        self.mmu.write(linear, w >> 3, v)

    # ---- control -------------------------------------------------------------------------
    def jump(self, target):
        self.target = target

    def raise_if(self, cond, vector, error_code=None):
        if cond:
            raise GuestFault(vector, error_code)

    def skip_unless(self, cond):
        if not cond:
            raise SkipRest()

    def native(self, name, args):
        padding = (0,) * (4 - len(args))
        return native_helpers.function(name)(ctypes.addressof(self.state), *args, *padding)

    # ---- lazy flags: the cc_op word is always concrete here -------------------------------
    def cc_get(self):
        s = self.state
        op, w = flags.decode(s.cc_op)
        return op, w, s.cc_dst, s.cc_src, s.cc_src2

    def cc_set(self, op, w, dst, src, src2):
        s = self.state
        s.cc_op = flags.encode(op, w)
        s.cc_dst, s.cc_src, s.cc_src2 = dst, src, src2


def _field_accessors():
    """name -> (getter, setter) over CpuState for every field semantics may name."""
    table = {}
    for name in ("eflags", "cc_op", "cc_dst", "cc_src", "cc_src2", "eip"):
        table[name] = (lambda s, n=name: getattr(s, n), lambda s, v, n=name: setattr(s, n, v))
    for n in range(5):
        table[f"cr{n}"] = (lambda s, n=n: s.cr[n], lambda s, v, n=n: s.cr.__setitem__(n, v))
    for n in range(6):
        for part in ("selector", "base", "limit", "flags"):
            table[f"seg{n}.{part}"] = (lambda s, n=n, p=part: getattr(s.seg[n], p),
                                       lambda s, v, n=n, p=part: setattr(s.seg[n], p, v))
    for name in ("tsc", "icount", "int_shadow", "icount_limit", "irq_pending", "ferr"):
        table[name] = (lambda s, n=name: getattr(s, n), lambda s, v, n=name: setattr(s, n, v))
    return table


_FIELDS = _field_accessors()
