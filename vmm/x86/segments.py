"""Segment register loads: selector -> descriptor cache, from the GDT (or real-mode base).

Used by the callouts for `mov sreg`, `pop sreg`, far jumps and iret, and by
interrupt delivery.  Faults follow the SDM: a selector beyond the GDT limit or
naming the LDT is #GP(selector), a not-present descriptor #NP (#SS for SS), a
null SS or CS #GP(0).

Example:
    load_segment(machine, DS, 0x10)     # DS <- GDT[2]
"""

from ..errors import GuestFault
from .exceptions import GP, NP, SS as SS_FAULT
from .state import CS, SS, CR0_PE


def parse_descriptor(raw):
    """(base, limit in bytes, flags word) of an 8-byte segment descriptor (an int)."""
    limit = (raw & 0xFFFF) | ((raw >> 32) & 0xF0000)
    base = ((raw >> 16) & 0xFFFFFF) | ((raw >> 32) & 0xFF000000)
    flags = (raw >> 40) & 0xF0FF
    if flags & 0x8000:                        # G: limit in 4 KiB units
        limit = (limit << 12) | 0xFFF
    return base, limit, flags


def read_descriptor(m, selector):
    """The raw 8-byte GDT entry for a selector, raising #GP(selector) if it is out of range."""
    gdtr = m.state.gdtr
    if selector & 4 or (selector & ~7) + 7 > gdtr.limit:
        raise GuestFault(GP, selector & 0xFFFC, f"selector {selector:#x} outside the GDT")
    return m.mmu.read(gdtr.base + (selector & ~7), 8)


def load_segment(m, seg, selector):
    """Load segment register `seg` with `selector`, filling its hidden descriptor cache."""
    cache = m.state.seg[seg]
    selector &= 0xFFFF
    if not m.state.cr[0] & CR0_PE:            # real mode: base = selector * 16
        cache.selector, cache.base = selector, selector << 4
        return
    if selector & ~3 == 0:
        if seg in (CS, SS):
            raise GuestFault(GP, 0, "null selector for CS/SS")
        cache.selector, cache.base, cache.limit, cache.flags = selector, 0, 0, 0
        return
    base, limit, flags = parse_descriptor(read_descriptor(m, selector))
    if not flags & 0x80:
        raise GuestFault(SS_FAULT if seg == SS else NP, selector & 0xFFFC, "segment not present")
    cache.selector, cache.base, cache.limit, cache.flags = selector, base, limit, flags
