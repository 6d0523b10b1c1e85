"""The builder's arithmetic primitives as LLVM IR (llvmlite), shared by blocks and helpers.

`IRArith` wraps an `ir.IRBuilder`; each method emits one or two instructions
and returns the `ir.Value`.  Widths map to LLVM integer types i1..i64.  It is
the part of the abstract builder (vmm.x86.builder) that needs no CPU state,
so the lazy-flags helper functions reuse it too.

Example:
    a = IRArith(ir.IRBuilder(bb), module)
    a.add(x, a.const(1, 32), 32)      # %r = add i32 %x, 1
"""

from llvmlite import ir

INT = {w: ir.IntType(w) for w in (1, 8, 16, 32, 64, 128)}


class IRArith:
    def __init__(self, irb, module):
        self.ir = irb
        self.module = module

    def _intrinsic(self, name, w, extra=()):
        ty = INT[w]
        return self.module.declare_intrinsic(name, [ty], ir.FunctionType(ty, [ty, *extra]))

    def const(self, v, w):
        return ir.Constant(INT[w], v & ((1 << w) - 1))

    def add(self, x, y, w):
        return self.ir.add(x, y)

    def sub(self, x, y, w):
        return self.ir.sub(x, y)

    def mul(self, x, y, w):
        return self.ir.mul(x, y)

    def and_(self, x, y, w):
        return self.ir.and_(x, y)

    def or_(self, x, y, w):
        return self.ir.or_(x, y)

    def xor(self, x, y, w):
        return self.ir.xor(x, y)

    def not_(self, x, w):
        return self.ir.not_(x)

    def neg(self, x, w):
        return self.ir.neg(x)

    def shl(self, x, n, w):
        return self.ir.shl(x, n)

    def lshr(self, x, n, w):
        return self.ir.lshr(x, n)

    def ashr(self, x, n, w):
        return self.ir.ashr(x, n)

    def udiv(self, x, y, w):
        return self.ir.udiv(x, y)

    def urem(self, x, y, w):
        return self.ir.urem(x, y)

    def sdiv(self, x, y, w):
        return self.ir.sdiv(x, y)

    def srem(self, x, y, w):
        return self.ir.srem(x, y)

    def zext(self, x, wf, wt):
        return x if wf == wt else self.ir.zext(x, INT[wt])

    def sext(self, x, wf, wt):
        return x if wf == wt else self.ir.sext(x, INT[wt])

    def trunc(self, x, wf, wt):
        return x if wf == wt else self.ir.trunc(x, INT[wt])

    def eq(self, x, y, w):
        return self.ir.icmp_unsigned("==", x, y)

    def ne(self, x, y, w):
        return self.ir.icmp_unsigned("!=", x, y)

    def ult(self, x, y, w):
        return self.ir.icmp_unsigned("<", x, y)

    def ule(self, x, y, w):
        return self.ir.icmp_unsigned("<=", x, y)

    def slt(self, x, y, w):
        return self.ir.icmp_signed("<", x, y)

    def sle(self, x, y, w):
        return self.ir.icmp_signed("<=", x, y)

    def select(self, c, x, y, w):
        return self.ir.select(c, x, y)

    def ctpop(self, x, w):
        return self.ir.call(self._intrinsic("llvm.ctpop", w), [x])

    def ctz(self, x, w):
        return self.ir.call(self._intrinsic("llvm.cttz", w, (INT[1],)), [x, ir.Constant(INT[1], 0)])

    def clz(self, x, w):
        return self.ir.call(self._intrinsic("llvm.ctlz", w, (INT[1],)), [x, ir.Constant(INT[1], 0)])

    def bswap(self, x, w):
        return self.ir.call(self._intrinsic("llvm.bswap", w), [x])
