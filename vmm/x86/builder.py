"""The abstract builder: the one vocabulary instruction semantics are written in.

Semantics (vmm/x86/semantics/) never touch Python ints or LLVM IR directly;
they call a builder.  `vmm.interp.builder.InterpBuilder` evaluates each call
at once on Python ints; the translator's LLVM builder emits IR for it.  So
x86 is written once (remill DEF_SEM, miasm sem.py).

Values ("b-values") are opaque; every operation names its bit width `w`
(1, 8, 16, 32 or 64) because the interpreter's ints carry none.  Comparisons
return 1-bit values.  Shift counts must be below `w` (semantics mask them).

Invariant relied on for precise exceptions: a semantic function performs all
checks and loads before its first store, and all stores before its register
writes, so a fault (GuestFault raised by `raise_if` or by memory) leaves
guest state as it was before the instruction.

Example (the whole of `add r/m, r/imm`):
    a, c = read(b, i.ops[0]), read(b, i.ops[1])
    r = b.add(a, c, w)
    write(b, i.ops[0], r)
    b.set_cc(ADD, w, r, c)
"""

from . import flags
from .state import ARITH_FLAGS_MASK, FLAG_BITS


class Builder:
    """Shared logic over the primitives each concrete builder implements.

    Primitives (all abstract here):
      const(v, w)
      add sub mul and_ or_ xor (x, y, w); not_ neg (x, w)
      shl lshr ashr (x, count, w)            count < w
      udiv urem sdiv srem (x, y, w)          no #DE case reaches them
      zext sext (x, w_from, w_to); trunc (x, w_from, w_to)
      eq ne ult ule slt sle (x, y, w) -> 1 bit; select(c, x, y, w)
      ctpop ctz clz bswap (x, w)
      reg(index, w, shift) / set_reg(index, v, w, shift)     GPR parts
      field(name) / set_field(name, v)                        32-bit CpuState fields
      seg_base(seg) ; load(linear, w) / store(linear, v, w)
      will_write(linear)                     this instruction stores to `linear`: made by
                                             vmm.x86.operands.linear before any access
      seg_checked(seg) -> Python bool        False only if segment register `seg` is known
                                             to be flat (vmm.x86.segaccess): no check needed
      jump(target)                           set EIP after this instruction
      raise_if(cond, vector, error_code=None)
      skip_unless(cond)                      cond false: the instruction ends here, EIP = next
      cc_get() -> (op, w, dst, src, src2) with op a Python int, or None if unknown here
      cc_set(op, w, dst, src, src2)
      flag_dynamic(name)                     a flag when cc_get() is None
      native(name, args) -> 64-bit           call native helper `name` (vmm.x86.fpu.native)
                                             on CpuState with up to four 64-bit args; it may
                                             change CpuState.fpu (which nothing caches)
    """

    def will_write(self, linear):
        """A hint, before the instruction's first access to `linear`, that it stores there
        (read-modify-write operands, plain stores).  The interpreter ignores it; the
        translator looks such an address up once, as a write, for its load and its store."""

    def cond_dynamic(self, cc):
        """A jcc/setcc/cmovcc condition when cc_get() is None (flags set before this block)."""
        return flags.evaluate(self, cc)

    # ---- condition codes -------------------------------------------------------------
    def set_cc(self, op, w, dst, src=None, src2=None):
        """Record a flag-setting operation lazily (see vmm.x86.flags)."""
        zero = self.const(0, w)
        self.cc_set(op, w, dst, zero if src is None else src, zero if src2 is None else src2)

    def flag(self, name):
        """One EFLAGS bit ("CF", "ZF", "DF"...) as a 1-bit value."""
        if name not in flags.ARITH_FLAGS:
            return flags.bit(self, self.field("eflags"), FLAG_BITS[name], 32)
        cc = self.cc_get()
        if cc is None:
            return self.flag_dynamic(name)
        op, w, dst, src, src2 = cc
        if op == flags.CC_EFLAGS:
            return flags.bit(self, self.field("eflags"), FLAG_BITS[name], 32)
        return flags.compute(self, name, op, w, dst, src, src2)

    def eflags(self):
        """The whole EFLAGS register (32-bit), arithmetic flags materialised."""
        self.materialize_flags()
        return self.field("eflags")

    def set_eflags(self, value, mask):
        """Replace the EFLAGS bits in `mask` (a Python int) by those of `value`."""
        if mask & ARITH_FLAGS_MASK:       # IF, DF...: the lazy arithmetic flags can stay lazy
            self.materialize_flags()
        old = self.and_(self.field("eflags"), self.const(~mask & 0xFFFFFFFF, 32), 32)
        new = self.and_(value, self.const(mask, 32), 32)
        self.set_field("eflags", self.or_(old, new, 32))

    def set_flag(self, name, value):
        """Set one EFLAGS bit from a 1-bit value."""
        bitpos = FLAG_BITS[name]
        self.set_eflags(self.shl(self.zext(value, 1, 32), self.const(bitpos, 32), 32), 1 << bitpos)

    def interrupt_window(self):
        """IF or TF may have just been set (sti, popf): if the monitor has an interrupt waiting
        for IF (`irq_pending`), or TF asks for single-stepping (which the interpreter does),
        translated code stops at the next block boundary (icount_limit 0), so the interrupt
        is taken at once (after the sti shadow), not at the end of the slice."""
        tf = self.ne(self.and_(self.field("eflags"), self.const(1 << FLAG_BITS["TF"], 32), 32), self.const(0, 32), 32)
        pending = self.or_(self.ne(self.field("irq_pending"), self.const(0, 32), 32), tf, 1)
        self.set_field("icount_limit", self.select(pending, self.const(0, 64), self.field("icount_limit"), 64))

    def materialize_flags(self):
        """Fold a lazily recorded operation into `eflags` and mark cc_op = CC_EFLAGS."""
        cc = self.cc_get()
        if cc is None:
            arith = self.compute_all_dynamic()
        elif cc[0] == flags.CC_EFLAGS:
            return
        else:
            arith = flags.compute_all(self, *cc)
        self.set_field("eflags", flags.merge_flags(self, self.field("eflags"), arith))
        zero = self.const(0, 32)
        self.cc_set(flags.CC_EFLAGS, 32, zero, zero, zero)
