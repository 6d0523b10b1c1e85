"""Segmentation checks on memory accesses: limit, type and null segment (SDM vol. 3, 5.3-5.4).

An access of `size` bytes at `offset` through a segment register is checked against the
register's hidden cache (Segment: limit in bytes, flags = descriptor bits 40-55):
  not usable     P or S clear (a null selector leaves flags 0)           #GP(0)
  type           a write to code or read-only data, a read of execute-only code
  limit          expand-up: the last byte beyond `limit`; expand-down (data with the E
                 bit): the first byte at or below `limit`, or the last beyond 0xFFFF
                 (B clear) or 0xFFFFFFFF (B set).  A 4 GiB expand-up segment wraps
                 instead (as Bochs and QEMU do)
Through SS the fault is #SS(0) instead of #GP(0) (stack operations included).

Flat segments cost nothing: a segment register is *flat* when its base is 0 and no access
through it can fail these checks (present, 4 GiB, expand-up writable data; for CS, readable
code, since a store through CS is always checked).  CpuState.seg_checks has bit n set for each segment
register n that is not flat; `segments.set_cache` keeps it, the translation mode carries it
for ES, CS, SS and DS (vmm.x86.mode: FS and GS are always checked), and translated code
checks only accesses through a segment the builder does not know to be flat
(`b.seg_checked`): a failed check leaves for the interpreter, which raises the fault.
Through a flat one the linear address is the offset itself (no base to add).

Example:
    check_access(b, DS, offset, 32, write=True)      # nothing emitted for a flat DS
    is_flat(SS, 0xC093, 0xFFFFFFFF, 0)               # -> True
"""

from .exceptions import GP, SS as SS_FAULT
from .state import CS, SS

FLAT_LIMIT = 0xFFFFFFFF
PRESENT, SEGMENT = 0x80, 0x10               # P and S in the cache's flags word
TYPE_CODE, TYPE_DOWN, TYPE_RW = 0x8, 0x4, 0x2   # type bits: code; expand-down (data); W or R
BIG = 0x4000                                # B: an expand-down segment reaches 0xFFFFFFFF
FLAT_DATA = PRESENT | SEGMENT | TYPE_RW     # flags & FLAT_MASK of a flat data segment
FLAT_CODE = PRESENT | SEGMENT | TYPE_CODE | TYPE_RW     # ...of a flat (readable) CS
FLAT_MASK = PRESENT | SEGMENT | TYPE_CODE | TYPE_DOWN | TYPE_RW
CODE_MASK = PRESENT | SEGMENT | TYPE_CODE | TYPE_RW     # conforming or not, both flat


def is_flat(seg, flags, limit, base):
    """True if the base is 0 and no access through segment register `seg` with this cache
    can fail a check (for CS: no read; stores through CS are always checked)."""
    if limit != FLAT_LIMIT or base:
        return False
    return flags & FLAT_MASK == FLAT_DATA or (seg == CS and flags & CODE_MASK == FLAT_CODE)


def access_fault(b, flags, limit, offset, size, write):
    """1-bit b-value: a `size`-byte read or write at `offset` (32-bit b-values `flags`,
    `limit`, `offset`) through a segment with this cache fails a check."""
    zero, one = b.const(0, 32), b.const(1, 1)
    usable = b.eq(b.and_(flags, b.const(PRESENT | SEGMENT, 32), 32), b.const(PRESENT | SEGMENT, 32), 32)
    kind = b.and_(flags, b.const(TYPE_CODE | TYPE_RW, 32), 32)
    if write:
        allowed = b.eq(kind, b.const(TYPE_RW, 32), 32)                      # writable data
    else:
        allowed = b.ne(kind, b.const(TYPE_CODE, 32), 32)                    # not execute-only
    down = b.eq(b.and_(flags, b.const(TYPE_CODE | TYPE_DOWN, 32), 32), b.const(TYPE_DOWN, 32), 32)
    big = b.ne(b.and_(flags, b.const(BIG, 32), 32), zero, 32)
    limit64, first = b.zext(limit, 32, 64), b.zext(offset, 32, 64)
    last = b.add(first, b.const(size - 1, 64), 64)
    lowest = b.select(down, b.add(limit64, b.const(1, 64), 64), b.const(0, 64), 64)
    wraps = b.eq(limit, b.const(FLAT_LIMIT, 32), 32)                        # 4 GiB expand-up
    up_top = b.select(wraps, b.const(~0, 64), limit64, 64)
    down_top = b.select(big, b.const(FLAT_LIMIT, 64), b.const(0xFFFF, 64), 64)
    highest = b.select(down, down_top, up_top, 64)
    outside = b.or_(b.ult(first, lowest, 64), b.ult(highest, last, 64), 1)
    return b.or_(b.xor(b.and_(usable, allowed, 1), one, 1), outside, 1)


def fault_vector(seg):
    """#SS for accesses through SS, #GP otherwise."""
    return SS_FAULT if seg == SS else GP


def check_access(b, seg, offset, w, write=False):
    """Raise #GP(0) / #SS(0) if a w-bit access at `offset` through segment register `seg`
    fails; nothing at all for a segment the builder knows is flat (`b.seg_checked`)."""
    if not (b.seg_checked(seg) or (write and seg == CS)):
        return
    fails = access_fault(b, b.field(f"seg{seg}.flags"), b.field(f"seg{seg}.limit"), offset, w // 8, write)
    b.raise_if(fails, fault_vector(seg), 0)
