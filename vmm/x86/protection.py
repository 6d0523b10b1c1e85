"""Privilege rules shared by both engines: CPL, IOPL, ring-0-only instructions, EFLAGS masks.

CPL is CS.RPL (CS.selector & 3) in protected mode and 0 in real mode; IOPL is
EFLAGS bits 12-13.  The builder-level functions (`cpl`, `require_cpl0`,
`require_iopl`, `eflags_write_mask`) are written against the abstract builder,
so the same rule runs in translated code (INLINE cli/sti/popf, mov from CRn)
and in the interpreter and callouts (SDM vol. 3, 5.9 and vol. 1, 18.2):
  ring-0-only instructions (registry entries with cpl0=True)   CPL > 0: #GP(0)
  cli, sti                                                     CPL > IOPL: #GP(0)
  popf, iret   IOPL changes only at CPL 0; IF only when CPL <= IOPL (no fault)
  in, out, ins, outs   CPL > IOPL: the TSS I/O bitmap decides (vmm.x86.tss)

Example:
    require_cpl0(b)                    # in a handler: #GP(0) unless ring 0
    current_cpl(machine)               # -> 3 while a user program runs
"""

from .exceptions import GP
from .state import ARITH_FLAGS_MASK, CR0_PE, CS, DF, IF, TF

IOPL_SHIFT = 12
IOPL_MASK = 3 << IOPL_SHIFT
IF_MASK, TF_MASK = 1 << IF, 1 << TF
NT_MASK, RF_MASK, VM_MASK, AC_MASK, ID_MASK = 1 << 14, 1 << 16, 1 << 17, 1 << 18, 1 << 21
# What popf/iret may write at CPL 0 (QEMU's mask): never VM (vmm has no virtual-8086 mode),
# VIF or VIP; RF is not modelled.
EFLAGS_WRITABLE = ARITH_FLAGS_MASK | TF_MASK | IF_MASK | (1 << DF) | IOPL_MASK | NT_MASK | AC_MASK | ID_MASK


def current_cpl(m):
    """CPL of a machine's concrete state."""
    s = m.state
    return s.seg[CS].selector & 3 if s.cr[0] & CR0_PE else 0


def current_iopl(m):
    return (m.state.eflags & IOPL_MASK) >> IOPL_SHIFT


def cpl(b):
    """CPL as a 32-bit b-value."""
    pe = b.ne(b.and_(b.field("cr0"), b.const(CR0_PE, 32), 32), b.const(0, 32), 32)
    return b.select(pe, b.and_(b.field(f"seg{CS}.selector"), b.const(3, 32), 32), b.const(0, 32), 32)


def iopl(b):
    """IOPL as a 32-bit b-value (EFLAGS.IOPL is never lazy)."""
    return b.and_(b.lshr(b.field("eflags"), b.const(IOPL_SHIFT, 32), 32), b.const(3, 32), 32)


def require_cpl0(b):
    """#GP(0) unless CPL is 0: the one check behind every `cpl0=True` registry entry."""
    b.raise_if(b.ne(cpl(b), b.const(0, 32), 32), GP, 0)


def require_iopl(b):
    """#GP(0) if CPL > IOPL (cli, sti)."""
    b.raise_if(b.ult(iopl(b), cpl(b), 32), GP, 0)


def eflags_write_mask(b, w, level=None):
    """The EFLAGS bits a w-bit popf or iret may change at CPL `level` (default: the current
    one): IOPL only at CPL 0, IF only at CPL <= IOPL (otherwise they keep their value)."""
    level = cpl(b) if level is None else level
    full = EFLAGS_WRITABLE & ((1 << w) - 1)
    zero = b.const(0, 32)
    keep_iopl = b.select(b.eq(level, zero, 32), zero, b.const(IOPL_MASK, 32), 32)
    keep_if = b.select(b.ule(level, iopl(b), 32), zero, b.const(IF_MASK, 32), 32)
    return b.and_(b.const(full, 32), b.not_(b.or_(keep_iopl, keep_if, 32), 32), 32)


def load_eflags(b, value, w, level=None):
    """popf/iret: EFLAGS <- `value` (32-bit b-value) in the bits the privilege rules allow."""
    mask = eflags_write_mask(b, w, level)
    b.materialize_flags()
    kept = b.and_(b.field("eflags"), b.not_(mask, 32), 32)
    b.set_field("eflags", b.or_(kept, b.and_(value, mask, 32), 32))
