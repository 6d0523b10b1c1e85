"""Sensitive instructions emulated inline against virtual CPU state: mov from CRn, smsw, rdtsc.

They read state the guest must see as virtual (its own CR values, virtual
time) but never need the monitor, so translated code does them in place.
mov from CRn is ring 0 only (its registry entry says cpl0); rdtsc is #GP(0)
at CPL > 0 only when CR4.TSD is set.
The virtual TSC advances by one per retired guest instruction (deterministic
time, DESIGN.md principle 6): TSC = tsc_offset + icount.

Example:
    system.rdtsc(b, insn)     # EDX:EAX <- virtual TSC
"""

from ..exceptions import GP
from ..operands import write
from ..protection import cpl
from ..state import EAX, EDX

CR4_TSD = 1 << 2


def mov_from_cr(b, i):
    dst, cr = i.ops
    b.set_reg(dst.index, b.field(f"cr{cr.index}"), 32, 0)


def smsw(b, i):
    """The low bits of CR0: all 32 into a 32-bit register (as QEMU), 16 into memory."""
    dst = i.ops[0]
    cr0 = b.field("cr0")
    write(b, dst, b.trunc(cr0, 32, dst.w) if dst.w < 32 else cr0)


def rdtsc(b, i):
    zero = b.const(0, 32)
    tsd = b.ne(b.and_(b.field("cr4"), b.const(CR4_TSD, 32), 32), zero, 32)
    b.raise_if(b.and_(tsd, b.ne(cpl(b), zero, 32), 1), GP, 0)
    tsc = b.add(b.field("tsc"), b.field("icount"), 64)
    b.set_reg(EAX, b.trunc(tsc, 64, 32), 32, 0)
    b.set_reg(EDX, b.trunc(b.lshr(tsc, b.const(32, 64), 64), 64, 32), 32, 0)
