"""Segment and gate descriptors (Intel SDM vol. 3, 3.4.5 and 5.8): fetched by selector, decoded.

A selector's TI bit picks the table (0: the GDT, 1: the LDT loaded by `lldt`);
an index past the table's limit, or into a null LDT, is a fault with the
selector as error code (#GP unless the caller names another, e.g. #TS).  The
decoded `Descriptor` answers the questions the protection checks ask (code?
conforming? writable? DPL? a gate's target?) and knows where it lives, so a
segment load can set the accessed bit in the table as the CPU does.

Example:
    d = fetch(machine, 0x1B)          # GDT entry 3, RPL 3
    d.is_code, d.dpl, d.present       # (True, 3, True)
    d.base, d.limit                   # limit in bytes, granularity applied
"""

from . import sysmem
from ..errors import GuestFault
from .exceptions import GP

# System descriptor types (S = 0).
TSS16_AVAILABLE, LDT, TSS16_BUSY, CALL_GATE16, TASK_GATE = 1, 2, 3, 4, 5
INT_GATE16, TRAP_GATE16 = 6, 7
TSS32_AVAILABLE, TSS32_BUSY, CALL_GATE32, INT_GATE32, TRAP_GATE32 = 9, 0xB, 0xC, 0xE, 0xF
TSS_TYPES = (TSS16_AVAILABLE, TSS16_BUSY, TSS32_AVAILABLE, TSS32_BUSY)
BUSY = 2                                  # the type bit that marks a TSS busy
ACCESSED = 1                              # the type bit the CPU sets on a segment load


class Descriptor:
    """One 8-byte descriptor (`raw`) read from linear address `address`."""

    __slots__ = ("raw", "address", "selector")

    def __init__(self, raw, address, selector):
        self.raw, self.address, self.selector = raw, address, selector

    @property
    def flags(self):
        """Descriptor bits 40-55 as the segment cache keeps them (type, S, DPL, P, AVL, D/B, G)."""
        return (self.raw >> 40) & 0xF0FF

    @property
    def type(self):
        return (self.raw >> 40) & 0xF

    @property
    def is_system(self):
        return not (self.raw >> 44) & 1

    @property
    def dpl(self):
        return (self.raw >> 45) & 3

    @property
    def present(self):
        return bool((self.raw >> 47) & 1)

    @property
    def is_code(self):
        return not self.is_system and bool(self.type & 8)

    @property
    def is_data(self):
        return not self.is_system and not self.type & 8

    @property
    def conforming(self):
        return self.is_code and bool(self.type & 4)

    @property
    def readable(self):
        """Data segments always; code segments with the R bit."""
        return self.is_data or (self.is_code and bool(self.type & 2))

    @property
    def writable(self):
        return self.is_data and bool(self.type & 2)

    @property
    def big(self):
        """The D/B bit: 32-bit code, or a stack addressed with ESP."""
        return bool((self.raw >> 54) & 1)

    @property
    def base(self):
        return ((self.raw >> 16) & 0xFFFFFF) | ((self.raw >> 32) & 0xFF000000)

    @property
    def limit(self):
        limit = (self.raw & 0xFFFF) | ((self.raw >> 32) & 0xF0000)
        return (limit << 12) | 0xFFF if (self.raw >> 55) & 1 else limit

    # ---- gates ----------------------------------------------------------------------------
    @property
    def gate_selector(self):
        return (self.raw >> 16) & 0xFFFF

    @property
    def gate_offset(self):
        offset = (self.raw & 0xFFFF) | ((self.raw >> 32) & 0xFFFF0000)
        return offset if self.type & 8 else offset & 0xFFFF        # 16-bit gates: 16-bit offsets

    @property
    def param_count(self):
        return (self.raw >> 32) & 0x1F


def table_of(m, selector):
    """(base, limit) of the descriptor table a selector's TI bit names."""
    s = m.state
    if selector & 4:
        return (s.ldtr.base, s.ldtr.limit) if s.ldtr.selector & 0xFFFC else (0, -1)
    return s.gdtr.base, s.gdtr.limit


def lookup(m, selector):
    """The Descriptor for `selector`, or None if it lies outside its table."""
    base, limit = table_of(m, selector)
    offset = selector & 0xFFF8
    if offset + 7 > limit:
        return None
    address = (base + offset) & 0xFFFFFFFF
    return Descriptor(sysmem.read(m, address, 8), address, selector & 0xFFFF)


def fetch(m, selector, vector=GP, ext=0):
    """The Descriptor for `selector`; outside its table -> fault `vector` (selector | EXT)."""
    d = lookup(m, selector)
    if d is None:
        raise GuestFault(vector, (selector & 0xFFFC) | ext, f"selector {selector:#x} outside its descriptor table")
    return d


def fault(vector, selector, reason, ext=0):
    """A GuestFault whose error code is the selector (RPL bits cleared) plus EXT."""
    return GuestFault(vector, (selector & 0xFFFC) | ext, f"selector {selector:#x}: {reason}")


def set_type_bit(m, d, bit):
    """Set a bit of the descriptor's type in its table (accessed, or a TSS's busy bit)."""
    byte = (d.raw >> 40) & 0xFF
    if not byte & bit:
        sysmem.write(m, d.address + 5, 1, byte | bit)
        d.raw |= bit << 40
