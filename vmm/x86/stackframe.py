"""A stack written or read by a far transfer, committed to SS:ESP only when the transfer succeeds.

Interrupt delivery, far calls, far returns and iret build or unwind frames on
a stack that may not be SS yet (the inner stack from the TSS).  `Stack` keeps
its own ESP: pushes store at once, but ESP (and SS) change only when the
caller commits after every check passed, so a fault half-way leaves the
registers as they were (SDM: faults are precise).  A stack segment with B=0
wraps in SP only.  Every access is checked against the stack segment's limit and type
(vmm.x86.segaccess): #SS with error code EXT for SS, the new selector and EXT for a stack
that is not SS yet (SDM "CALL", "INT n": "#SS(error_code(NewSS, 0, EXT))").

`entry_stack` picks the stack of a gate entry (interrupts, call gates).

Example:
    st = Stack.current(machine)            # SS:ESP as they are
    st.push(eflags, 32); st.push(cs, 32)
    st.commit()                            # ESP <- the new top
"""

from functools import partial

from . import sysmem
from ..errors import GuestFault
from .exceptions import SS as SS_FAULT, TS
from .segaccess import BIG, access_fault, is_flat
from .segments import checked_stack, load_stack
from .state import ESP, SS
from .tss import inner_stack


class Stack:
    def __init__(self, m, segment, esp, checked, new_ss=None, ext=0):
        """`segment`: the stack segment's cache or descriptor (base, limit, flags);
        `checked`: it is not flat (vmm.x86.segaccess), so accesses are checked against it."""
        self.m, self.base, self.esp, self.checked = m, segment.base, esp, checked
        self.flags, self.limit = segment.flags, segment.limit
        self.mask = 0xFFFFFFFF if self.flags & BIG else 0xFFFF
        self.new_ss = new_ss           # (selector, descriptor) of a stack that is not SS yet
        self.error_code = ext | (new_ss[0] & 0xFFFC if new_ss else 0)
        if new_ss is None:             # this ring's stack: accessed as the instruction's own
            self._read, self._write = m.mmu.read, m.mmu.write
        else:                          # an inner ring's stack being built: the CPU's access
            self._read, self._write = partial(sysmem.read, m), partial(sysmem.write, m)

    @classmethod
    def current(cls, m, ext=0):
        s = m.state
        return cls(m, s.seg[SS], s.gpr[ESP], bool(s.seg_checks >> SS & 1), ext=ext)

    def _check(self, offset, w, write):
        """#SS unless a w-bit access at stack offset `offset` passes the segment's checks."""
        if access_fault(self.m.builder, self.flags, self.limit, offset, w // 8, write):
            raise GuestFault(SS_FAULT, self.error_code, f"stack offset {offset:#x} outside SS (limit {self.limit:#x})")

    def push(self, value, w):
        self.esp = (self.esp - w // 8) & 0xFFFFFFFF
        offset = self.esp & self.mask
        if self.checked:
            self._check(offset, w, True)
        self._write((self.base + offset) & 0xFFFFFFFF, w // 8, value & ((1 << w) - 1))

    def read(self, offset, w):
        """The w-bit value `offset` bytes above the current top, without popping it."""
        offset = (self.esp + offset) & self.mask
        if self.checked:
            self._check(offset, w, False)
        return self._read((self.base + offset) & 0xFFFFFFFF, w // 8)

    def pop(self, w):
        value = self.read(0, w)
        self.esp = (self.esp + w // 8) & 0xFFFFFFFF
        return value

    def skip(self, count):
        self.esp = (self.esp + count) & 0xFFFFFFFF

    def commit(self):
        """ESP <- this stack's top (SP only for a 16-bit stack); SS too for a new stack."""
        gpr = self.m.state.gpr
        if self.new_ss is not None:
            load_stack(self.m, *self.new_ss)
            gpr[ESP] = self.esp
        else:
            gpr[ESP] = (gpr[ESP] & ~self.mask & 0xFFFFFFFF) | (self.esp & self.mask)


def entry_stack(m, code, cpl, w, ext=0):
    """(stack, new CPL) for entering code segment `code` from `cpl` through a gate: the
    current stack, or, into a non-conforming segment of an inner ring, that ring's stack
    from the TSS with the old SS and ESP pushed (w bits each).  Nothing changes until
    the stack is committed."""
    if code.conforming or code.dpl >= cpl:
        return Stack.current(m, ext), cpl
    s = m.state
    ss, esp = inner_stack(m, code.dpl, ext)
    segment = checked_stack(m, ss, code.dpl, TS, ext)
    stack = Stack(m, segment, esp, not is_flat(SS, segment.flags, segment.limit, segment.base), new_ss=(ss, segment), ext=ext)
    stack.push(s.seg[SS].selector, w)
    stack.push(s.gpr[ESP], w)
    return stack, code.dpl
