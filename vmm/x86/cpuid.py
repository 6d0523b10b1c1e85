"""The CPU model vmm reports through CPUID: an i686-class integer CPU, documented here.

Vendor "VmmGenuineBT" (12 bytes, so no guest applies another vendor's quirks),
family 6 model 1 stepping 1 (a Pentium Pro class part).  Leaf 1 EDX features:
  FPU (bit 0)   the x87 FPU, run on the host's x87 (vmm.x86.semantics.x87; no #MF)
  TSC (bit 4)   rdtsc, virtual: one tick per guest instruction
  MSR (bit 5)   rdmsr/wrmsr for the MSRs listed in vmm.x86.msr
  CX8 (bit 8)   cmpxchg8b
  CMOV (bit 15) cmovcc
No PAE, PSE, APIC, SEP, FXSR, MMX or SSE: vmm does not model them yet, and a
guest must not be told otherwise.  Leaves above 1 (and all extended leaves)
answer as the highest basic leaf does on Intel parts: zeros here.

Example:
    cpuid(0)       # -> (1, ebx, ecx, edx) with the vendor in ebx, edx, ecx
"""

import struct

VENDOR = b"VmmGenuineBT"
SIGNATURE = (6 << 8) | (1 << 4) | 1            # family 6, model 1, stepping 1
FEATURES_EDX = (1 << 0) | (1 << 4) | (1 << 5) | (1 << 8) | (1 << 15)
MAX_LEAF = 1


def cpuid(leaf, subleaf=0):
    """(eax, ebx, ecx, edx) for a CPUID leaf."""
    if leaf == 0:
        ebx, edx, ecx = struct.unpack("<III", VENDOR)
        return MAX_LEAF, ebx, ecx, edx
    if leaf == 1:
        return SIGNATURE, 0, 0, FEATURES_EDX
    if leaf == 0x80000000:
        return 0x80000000, 0, 0, 0
    return 0, 0, 0, 0
