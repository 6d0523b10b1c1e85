"""A stack written or read by a far transfer, committed to SS:ESP only when the transfer succeeds.

Interrupt delivery, far calls, far returns and iret build or unwind frames on
a stack that may not be SS yet (the inner stack from the TSS).  `Stack` keeps
its own ESP: pushes store at once, but ESP (and SS) change only when the
caller commits after every check passed, so a fault half-way leaves the
registers as they were (SDM: faults are precise).  A stack segment with B=0
wraps in SP only.

Example:
    st = Stack.current(machine)            # SS:ESP as they are
    st.push(eflags, 32); st.push(cs, 32)
    st.commit()                            # ESP <- the new top
"""

from .state import ESP, SS


class Stack:
    def __init__(self, m, base, esp, big=True):
        self.m, self.base, self.esp = m, base, esp
        self.mask = 0xFFFFFFFF if big else 0xFFFF

    @classmethod
    def current(cls, m):
        ss = m.state.seg[SS]
        return cls(m, ss.base, m.state.gpr[ESP], bool(ss.flags & 0x4000) or ss.flags == 0)

    def push(self, value, w):
        self.esp = (self.esp - w // 8) & 0xFFFFFFFF
        self.m.mmu.write((self.base + (self.esp & self.mask)) & 0xFFFFFFFF, w // 8, value & ((1 << w) - 1))

    def read(self, offset, w):
        """The w-bit value `offset` bytes above the current top, without popping it."""
        return self.m.mmu.read((self.base + ((self.esp + offset) & self.mask)) & 0xFFFFFFFF, w // 8)

    def pop(self, w):
        value = self.read(0, w)
        self.esp = (self.esp + w // 8) & 0xFFFFFFFF
        return value

    def skip(self, count):
        self.esp = (self.esp + count) & 0xFFFFFFFF

    def commit(self):
        """ESP <- this stack's top (SP only for a 16-bit stack)."""
        gpr = self.m.state.gpr
        gpr[ESP] = (gpr[ESP] & ~self.mask & 0xFFFFFFFF) | (self.esp & self.mask)
