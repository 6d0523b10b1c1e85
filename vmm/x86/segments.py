"""Segment register loads: selector -> hidden descriptor cache, with the SDM's protection checks.

Used by `mov sreg`, `pop sreg`, `lds`/`les`/`lfs`/`lgs`/`lss`, far transfers,
iret, interrupt delivery and sysenter.  In real mode the base is selector * 16.
In protected mode (SDM vol. 3, 5.5-5.7; "MOV", "POP" in vol. 2):
  DS ES FS GS  null: loaded (any use then faults); else a data or readable code
               segment, and unless conforming code, DPL >= CPL and DPL >= RPL:
               #GP(selector); not present: #NP(selector)
  SS           null: #GP(0); RPL = DPL = CPL and writable data, else #GP(selector);
               not present: #SS(selector)
  CS           only through far transfers (vmm.x86.far), which check the code segment
               and call `load_code`.
The descriptor's accessed bit is set in its table.  A selector outside its
table is #GP(selector).  Callers that must report other vectors (a stack from
the TSS is #TS) pass `vector`.  A real-mode load makes the segment usable read/write
data (P, S, type 3) and keeps the limit and the G and D/B bits (unreal mode keeps a
4 GiB limit), as Bochs does; memory accesses are then checked against that cache
(vmm.x86.segaccess).

Every segment cache is written by `set_cache`, which keeps CpuState.seg_checks.

Example:
    load_segment(machine, DS, 0x2B)     # DS <- GDT[5] with RPL 3, checked against CPL
"""

from ..errors import GuestFault
from .descriptors import ACCESSED, fault, fetch, set_type_bit
from .exceptions import GP, NP, SS as SS_FAULT
from .protection import current_cpl
from .segaccess import FLAT_LIMIT, is_flat
from .state import CS, SS, ES, DS, FS, GS, CR0_PE

P_FLAG = 0x80                                # "present" in the cache's flags word
DATA_SEGMENTS = (ES, DS, FS, GS)
REAL_MODE_DATA = 0x93                        # P, DPL 0, S, type 3 (read/write, accessed)
SIZE_BITS = 0xF000                           # G, D/B, L, AVL: kept by a real-mode load
# Flat 4 GiB segments as a multiboot loader leaves them: present, DPL 0, 32-bit, 4 KiB granular.
FLAT_CODE_FLAGS = 0xC09B       # G=1 D=1 | P=1 DPL=0 S=1 type=0xB (exec/read, accessed)
FLAT_DATA_FLAGS = 0xC093       # G=1 B=1 | P=1 DPL=0 S=1 type=0x3 (read/write, accessed)


def set_cache(state, seg, selector, base, limit, flags):
    """Segment register `seg` <- selector and hidden cache, and its bit of
    CpuState.seg_checks (set unless the segment is flat: vmm.x86.segaccess.is_flat).
    Every change of a segment register goes through here, so the bit is never stale."""
    cache = state.seg[seg]
    cache.selector, cache.base, cache.limit, cache.flags = selector, base, limit, flags
    bit = 1 << seg
    state.seg_checks = state.seg_checks & ~bit if is_flat(seg, flags, limit, base) else state.seg_checks | bit


def set_selector(state, seg, selector):
    """Only the selector of segment register `seg` changes (a task switch's first step, a
    debugger's register write): the hidden cache stays."""
    cache = state.seg[seg]
    set_cache(state, seg, selector, cache.base, cache.limit, cache.flags)


def set_flat_segments(state, code_selector=0x08, data_selector=0x10):
    """Load every segment register with a flat 0..4 GiB descriptor cache."""
    for seg in range(6):
        if seg == CS:
            set_cache(state, seg, code_selector, 0, FLAT_LIMIT, FLAT_CODE_FLAGS)
        else:
            set_cache(state, seg, data_selector, 0, FLAT_LIMIT, FLAT_DATA_FLAGS)


def fill(state, seg, selector, d):
    """Copy a descriptor into a segment register's hidden cache."""
    set_cache(state, seg, selector, d.base, d.limit, d.flags | ACCESSED)


def load_real_mode(state, seg, selector):
    """Real mode: base = selector * 16, usable read/write data, limit and size bits kept."""
    cache = state.seg[seg]
    set_cache(state, seg, selector, selector << 4, cache.limit, (cache.flags & SIZE_BITS) | REAL_MODE_DATA)


def load_segment(m, seg, selector):
    """Load data or stack segment register `seg` (not CS) with `selector`."""
    selector &= 0xFFFF
    if not m.state.cr[0] & CR0_PE:
        load_real_mode(m.state, seg, selector)
        return
    if seg == SS:
        d = checked_stack(m, selector, current_cpl(m), GP)
    elif selector & 0xFFFC == 0:
        set_cache(m.state, seg, selector, 0, 0, 0)
        return
    else:
        d = checked_data(m, selector, current_cpl(m))
    set_type_bit(m, d, ACCESSED)
    fill(m.state, seg, selector, d)


def checked_data(m, selector, cpl):
    """The descriptor for a DS/ES/FS/GS load at `cpl`, or the SDM's #GP/#NP."""
    d = fetch(m, selector)
    if not d.readable:
        raise fault(GP, selector, "not a data or readable code segment")
    if not d.conforming and (d.dpl < cpl or d.dpl < (selector & 3)):
        raise fault(GP, selector, f"DPL {d.dpl} below CPL {cpl} or RPL {selector & 3}")
    if not d.present:
        raise fault(NP, selector, "segment not present")
    return d


def checked_stack(m, selector, cpl, vector, ext=0):
    """The descriptor for an SS load at privilege `cpl`; checks fail with `vector`
    (#GP for mov/pop/lss/retf/iret, #TS for a stack taken from the TSS)."""
    if selector & 0xFFFC == 0:
        raise GuestFault(vector, ext, "null stack segment selector")
    d = fetch(m, selector, vector, ext)
    if selector & 3 != cpl or d.dpl != cpl or not d.writable:
        raise fault(vector, selector, f"not a writable data segment with RPL = DPL = {cpl}", ext)
    if not d.present:
        raise fault(SS_FAULT, selector, "stack segment not present", ext)
    return d


def load_code(m, selector, d, cpl):
    """CS <- a checked code descriptor; the new CPL is `cpl`, kept in CS.RPL."""
    set_type_bit(m, d, ACCESSED)
    fill(m.state, CS, (selector & 0xFFFC) | cpl, d)


def load_stack(m, selector, d):
    """SS <- a checked stack descriptor."""
    set_type_bit(m, d, ACCESSED)
    fill(m.state, SS, selector, d)


def drop_inaccessible(m, cpl):
    """After a return to outer level `cpl`: ES DS FS GS whose segment that level may not use
    (data or non-conforming code with DPL < cpl) become null (SDM "RET", "IRET")."""
    for seg in DATA_SEGMENTS:
        cache = m.state.seg[seg]
        segment, conforming = cache.flags & 0x10, cache.flags & 0x1C == 0x1C
        if segment and not conforming and (cache.flags >> 5) & 3 < cpl:
            set_cache(m.state, seg, 0, cache.base, cache.limit, cache.flags & ~P_FLAG)
