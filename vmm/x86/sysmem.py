"""Implicit supervisor-mode accesses: the memory the CPU itself reads and writes for protection.

Descriptor tables (GDT, LDT, IDT), the TSS, and the inner-ring stack an
interrupt or call gate is building are accessed as supervisor accesses,
whatever the CPL at the time (SDM vol. 3, 4.6: "implicit supervisor-mode
accesses"): a ring-3 program taking an interrupt reads the IDT and pushes its
frame on a kernel-only page.  Every such access of vmm.x86 goes through here,
so the paging unit tells them from the accesses of the instruction itself: they
are checked against the page tables as supervisor accesses (`user=False`).

Example:
    raw = sysmem.read(machine, gdt_base + 8, 8)        # a descriptor
"""


def read(m, linear, size):
    return m.mmu.read(linear & 0xFFFFFFFF, size, user=False)


def write(m, linear, size, value):
    m.mmu.write(linear & 0xFFFFFFFF, size, value, user=False)
