"""The task-state segment: inner-level stacks, the I/O permission bitmap, `ltr` (SDM vol. 3, ch. 7).

TR's hidden cache (state.tr) holds the TSS base and limit once `ltr` has
loaded it.  A 32-bit TSS keeps ESPn at 4 + 8n and SSn at 8 + 8n for rings
n = 0..2 (a 16-bit TSS: SPn at 2 + 4n, SSn at 4 + 4n), and the 16-bit offset
of the I/O bitmap at 0x66; a port is allowed when its bits (one per byte of
the access) are clear and inside the TSS limit.  Reading past the limit is
#TS(TR selector) for stacks, #GP(0) for the bitmap.

Example:
    ss, esp = inner_stack(machine, 0)    # SS0:ESP0 for a ring-3 -> ring-0 transfer
    io_allowed(machine, 0x3F8, 1)       # False when the bitmap sets bit 0x3F8
"""

from . import sysmem
from ..errors import GuestFault
from .descriptors import BUSY, LDT, TSS16_AVAILABLE, TSS32_AVAILABLE, fault, fetch, set_type_bit
from .exceptions import GP, NP, TS, UD
from .state import CR0_PE

IO_MAP_BASE = 0x66


def _is32(tr):
    return bool(tr.flags & 8)


def inner_stack(m, dpl, ext=0):
    """(SS, ESP) the TSS holds for privilege level `dpl`."""
    tr = m.state.tr
    if tr.selector & 0xFFFC == 0 or not tr.flags & 0x80:
        raise GuestFault(TS, (tr.selector & 0xFFFC) | ext, "no TSS loaded for a stack switch")
    shift = 1 if _is32(tr) else 0
    offset = (dpl * 4 + 2) << shift
    if offset + (4 << shift) - 1 > tr.limit:
        raise GuestFault(TS, (tr.selector & 0xFFFC) | ext, f"TSS limit {tr.limit:#x} has no ring-{dpl} stack")
    if shift:
        return sysmem.read(m, tr.base + offset + 4, 2), sysmem.read(m, tr.base + offset, 4)
    return sysmem.read(m, tr.base + offset + 2, 2), sysmem.read(m, tr.base + offset, 2)


def io_allowed(m, port, size):
    """Whether the I/O bitmap of the current 32-bit TSS allows `size` bytes at `port`."""
    tr = m.state.tr
    if not _is32(tr) or tr.limit < IO_MAP_BASE + 1:
        return False
    byte = sysmem.read(m, tr.base + IO_MAP_BASE, 2) + (port >> 3)
    if byte + 1 > tr.limit:
        return False
    bits = sysmem.read(m, tr.base + byte, 2) >> (port & 7)
    return bits & ((1 << size) - 1) == 0


def ltr(m, selector):
    """TR <- an available TSS descriptor from the GDT, which becomes busy."""
    d = _system_descriptor(m, selector, (TSS16_AVAILABLE, TSS32_AVAILABLE), "an available TSS")
    set_type_bit(m, d, BUSY)
    tr = m.state.tr
    tr.selector, tr.base, tr.limit, tr.flags = selector, d.base, d.limit, d.flags


def lldt(m, selector):
    """LDTR <- an LDT descriptor from the GDT; a null selector leaves no LDT."""
    ldtr = m.state.ldtr
    if selector & 0xFFFC == 0:
        ldtr.selector, ldtr.base, ldtr.limit, ldtr.flags = selector, 0, 0, 0
        return
    d = _system_descriptor(m, selector, (LDT,), "an LDT")
    ldtr.selector, ldtr.base, ldtr.limit, ldtr.flags = selector, d.base, d.limit, d.flags


def _system_descriptor(m, selector, types, what):
    if not m.state.cr[0] & CR0_PE:
        raise GuestFault(UD, None, "ltr/lldt in real mode")
    if selector & 0xFFFC == 0:
        raise GuestFault(GP, 0, f"null selector where {what} is needed")
    if selector & 4:
        raise fault(GP, selector, f"{what} must be in the GDT")
    d = fetch(m, selector)
    if not d.is_system or d.type not in types:
        raise fault(GP, selector, f"not {what}")
    if not d.present:
        raise fault(NP, selector, f"{what} not present")
    return d
