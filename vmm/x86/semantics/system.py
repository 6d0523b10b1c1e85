"""Sensitive instructions emulated inline against virtual CPU state: mov from CRn, rdtsc.

They read state the guest must see as virtual (its own CR values, virtual
time) but never need the monitor, so translated code does them in place.
The virtual TSC advances by one per retired guest instruction (deterministic
time, DESIGN.md principle 6): TSC = tsc_offset + icount.

Example:
    system.rdtsc(b, insn)     # EDX:EAX <- virtual TSC
"""

from ..state import EAX, EDX


def mov_from_cr(b, i):
    dst, cr = i.ops
    b.set_reg(dst.index, b.field(f"cr{cr.index}"), 32, 0)


def rdtsc(b, i):
    tsc = b.add(b.field("tsc"), b.field("icount"), 64)
    b.set_reg(EAX, b.trunc(tsc, 64, 32), 32, 0)
    b.set_reg(EDX, b.trunc(b.lshr(tsc, b.const(32, 64), 64), 64, 32), 32, 0)
