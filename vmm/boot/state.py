"""BootState: what a loader hands the monitor, i.e. where the CPU starts and in which state.

Every loader here starts the guest as the Multiboot spec (section 3.2) defines it: 32-bit
protected mode with flat 4 GiB code (CS) and data (DS, ES, FS, GS, SS) segments, paging off,
interrupts off (EFLAGS = 0x2: only the always-one bit).  The loader fills in the entry point,
the registers it defines, the RAM ranges it wrote, and the image's name.

Example:
    boot = load_image("hello.elf", memory)
    boot.entry, boot.regs        # 0x100000, {"eax": 0x2BADB002, "ebx": 0x9000}
    boot.loaded                  # [(0x100000, 0x101234)]
"""

from dataclasses import dataclass, field

from ..x86.state import CR0_ET, CR0_PE


@dataclass
class BootState:
    """Flat 32-bit protected mode, paging off, interrupts off (the multiboot hand-off state)."""

    entry: int                  # EIP
    name: str                   # the image, for messages
    regs: dict = field(default_factory=dict)        # general registers the boot protocol defines
    loaded: list = field(default_factory=list)      # (start, end) physical ranges the image filled
    cr0: int = CR0_PE | CR0_ET  # ET reads as 1 on every CPU since the 486
    eflags: int = 0x2
    flat_segments: bool = True  # CS: flat code, DS ES FS GS SS: flat data, base 0 limit 4 GiB
    selectors: tuple = (0x08, 0x10)     # CS and the data segments' selectors
    gdt: tuple = (0, 0)                 # GDTR (base, limit) the loader set up; (0, 0): none
    open_bus: bool = False              # a PC OS: unclaimed physical addresses as a PC's bus (vmm.x86.mmu)
