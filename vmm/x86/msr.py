"""Model-specific registers vmm implements; any other index is #GP(0) on rdmsr/wrmsr.

  0x10   IA32_TIME_STAMP_COUNTER   writes set the virtual TSC (kept as an offset)
  0x174  IA32_SYSENTER_CS          stored (sysenter itself arrives with CPL 3)
  0x175  IA32_SYSENTER_ESP         stored
  0x176  IA32_SYSENTER_EIP         stored

Example:
    msrs = MsrFile(state); msrs.write(0x174, 0x10); msrs.read(0x174)   # -> 0x10
"""

TSC, SYSENTER_CS, SYSENTER_ESP, SYSENTER_EIP = 0x10, 0x174, 0x175, 0x176


class MsrFile:
    def __init__(self, state):
        self.state = state
        self.stored = {SYSENTER_CS: 0, SYSENTER_ESP: 0, SYSENTER_EIP: 0}

    def known(self, index):
        return index == TSC or index in self.stored

    def read(self, index):
        if index == TSC:
            return (self.state.tsc + self.state.icount) & 0xFFFFFFFFFFFFFFFF
        return self.stored[index]

    def write(self, index, value):
        if index == TSC:
            self.state.tsc = (value - self.state.icount) & 0xFFFFFFFFFFFFFFFF
        else:
            self.stored[index] = value
