"""Delivering exceptions and interrupts to the guest through its IDT (protected mode, ring 0).

One function, `deliver`, is the only way a guest sees an exception, a
software interrupt or (later) a hardware IRQ.  It pushes EFLAGS, CS, EIP and
the error code if any, clears IF for interrupt gates and TF for both gate
kinds, and loads CS:EIP from the gate.  A guest without an IDT cannot take an
exception: the run stops with GuestStop naming the exception and address.

Example:
    deliver(machine, DE, None, return_eip=insn.address)
"""

from ..errors import GuestFault, GuestStop
from .exceptions import DF, name
from .segments import load_segment
from .semantics.stack import push_value
from .state import CS, IF, TF

INTERRUPT_GATE32, TRAP_GATE32 = 0xE, 0xF


def deliver(m, vector, error_code, return_eip, detail="", external=False):
    """Enter the guest's handler for `vector`; return_eip is what the frame saves."""
    s = m.state
    where = f" at eip={return_eip:#010x}" + (f": {detail}" if detail else "")
    if s.idtr.limit == 0:
        raise GuestStop(f"{name(vector)}{where} (no IDT loaded)", vector)
    if vector * 8 + 7 > s.idtr.limit:
        raise GuestStop(f"{name(vector)}{where}: vector beyond the IDT limit {s.idtr.limit:#x}", vector)
    gate = m.mmu.read(s.idtr.base + vector * 8, 8)
    kind, present = (gate >> 40) & 0x1F, (gate >> 47) & 1
    if not present or kind not in (INTERRUPT_GATE32, TRAP_GATE32):
        raise GuestStop(f"{name(vector)}{where}: IDT entry {vector} is not a present 32-bit "
                        f"interrupt/trap gate (type {kind:#x})", vector)
    offset = (gate & 0xFFFF) | ((gate >> 32) & 0xFFFF0000)
    selector = (gate >> 16) & 0xFFFF
    try:
        _enter(m, vector, error_code, return_eip, kind, offset, selector)
    except GuestFault as nested:
        # A fault while delivering is a double fault; vmm has no #DF handler path yet.
        raise GuestStop(f"{name(nested.vector)} while delivering {name(vector)}{where}: "
                        f"double fault ({nested.reason})", DF) from None


def _enter(m, vector, error_code, return_eip, kind, offset, selector):
    s = m.state
    b = m.builder
    old_cs = s.seg[CS].selector
    push_value(b, b.eflags(), 32)
    push_value(b, old_cs, 32)
    push_value(b, return_eip, 32)
    if error_code is not None:
        push_value(b, error_code, 32)
    load_segment(m, CS, selector)
    cleared = (1 << TF) | ((1 << IF) if kind == INTERRUPT_GATE32 else 0)
    s.eflags &= ~cleared & 0xFFFFFFFF
    s.eip = offset
