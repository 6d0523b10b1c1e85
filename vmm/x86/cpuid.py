"""The CPU model vmm reports through CPUID: an i686-class CPU, documented here.

Vendor "GenuineIntel" (as QEMU's qemu32 model: Linux's generic path for an unknown vendor
warns "Your system may be unstable"), family 6 model 3 stepping 3 (a Pentium II class part: Linux disables SEP on
family 6 parts with model < 3 and stepping < 3, the Pentium Pro erratum).
Leaf 1 EDX features:
  FPU (bit 0)   the x87 FPU, run on the host's x87 (vmm.x86.semantics.x87; no #MF)
  PSE (bit 3)   4 MiB pages (the paging unit, vmm/x86/mmu.py)
  TSC (bit 4)   rdtsc, virtual: one tick per guest instruction (CR4.TSD honoured)
  MSR (bit 5)   rdmsr/wrmsr for the MSRs listed in vmm.x86.msr
  CX8 (bit 8)   cmpxchg8b
  SEP (bit 11)  sysenter/sysexit (vmm.x86.sysenter)
  PGE (bit 13)  global pages
  CMOV (bit 15) cmovcc
Leaf 1 ECX: only bit 31, "running under a hypervisor" (as QEMU and every VMM set it), so
a kernel skips probes of hardware a virtual CPU does not have (Linux's performance
counters: "PMU not available due to virtualization").
Not reported, so a guest never uses them: VME, DE, PAE, MCE, APIC, MTRR, MCA,
PAT, PSE-36, MMX, FXSR, SSE and later, and every other ECX feature.  Leaves above 1
(and all extended leaves) answer as the highest basic leaf does on Intel
parts: zeros here.

Example:
    cpuid(0)       # -> (1, ebx, ecx, edx) with the vendor in ebx, edx, ecx
"""

import struct

VENDOR = b"GenuineIntel"
SIGNATURE = (6 << 8) | (3 << 4) | 3            # family 6, model 3, stepping 3
FPU, PSE, TSC, MSR, CX8, SEP, PGE, CMOV = 0, 3, 4, 5, 8, 11, 13, 15
FEATURES_EDX = sum(1 << bit for bit in (FPU, PSE, TSC, MSR, CX8, SEP, PGE, CMOV))
FEATURES_ECX = 1 << 31           # HYPERVISOR
MAX_LEAF = 1


def cpuid(leaf, subleaf=0):
    """(eax, ebx, ecx, edx) for a CPUID leaf."""
    if leaf == 0:
        ebx, edx, ecx = struct.unpack("<III", VENDOR)
        return MAX_LEAF, ebx, ecx, edx
    if leaf == 1:
        return SIGNATURE, 0, FEATURES_ECX, FEATURES_EDX
    if leaf == 0x80000000:
        return 0x80000000, 0, 0, 0
    return 0, 0, 0, 0
