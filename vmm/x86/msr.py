"""Model-specific registers vmm implements; any other index is #GP(0) on rdmsr/wrmsr.

  0x10   IA32_TIME_STAMP_COUNTER   writes set the virtual TSC (kept as an offset)
  0x17   IA32_PLATFORM_ID          reads 0 (platform 0); read-only, writes #GP(0)
  0x8B   IA32_BIOS_SIGN_ID         microcode revision: reads 0 (none loaded), writes ignored
  0x174  IA32_SYSENTER_CS          used by sysenter/sysexit (vmm.x86.sysenter)
  0x175  IA32_SYSENTER_ESP
  0x176  IA32_SYSENTER_EIP
Absent on purpose, so #GP(0), consistent with CPUID (vmm.x86.cpuid): IA32_APIC_BASE
(0x1B, no APIC), MTRRcap (0xFE) and the MTRRs (no MTRR bit), IA32_MISC_ENABLE (0x1A0,
read by Linux only on Intel-vendor CPUs, and through rdmsr_safe), EFER (0xC0000080, no
long mode, NX or syscall), the performance counters.

Example:
    msrs = MsrFile(state); msrs.write(0x174, 0x10); msrs.read(0x174)   # -> 0x10
"""

TSC, PLATFORM_ID, BIOS_SIGN_ID = 0x10, 0x17, 0x8B
SYSENTER_CS, SYSENTER_ESP, SYSENTER_EIP = 0x174, 0x175, 0x176
READ_ONLY = frozenset((PLATFORM_ID,))


SEP = (SYSENTER_CS, SYSENTER_ESP, SYSENTER_EIP)      # kept in CpuState.sysenter, which native code reads


class MsrFile:
    def __init__(self, state):
        self.state = state
        self.stored = {PLATFORM_ID: 0, BIOS_SIGN_ID: 0}

    def known(self, index, write=False):
        """Whether rdmsr (or wrmsr, with write=True) of `index` succeeds."""
        if write and index in READ_ONLY:
            return False
        return index == TSC or index in SEP or index in self.stored

    def read(self, index):
        if index == TSC:
            return (self.state.tsc + self.state.icount) & 0xFFFFFFFFFFFFFFFF
        if index == BIOS_SIGN_ID:
            return 0                  # writing 0 then cpuid(1) is how software reads it; no microcode
        if index in SEP:
            return self.state.sysenter[SEP.index(index)]
        return self.stored[index]

    def write(self, index, value):
        if index == TSC:
            self.state.tsc = (value - self.state.icount) & 0xFFFFFFFFFFFFFFFF
        elif index in SEP:
            self.state.sysenter[SEP.index(index)] = value
        else:
            self.stored[index] = value
