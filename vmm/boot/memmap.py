"""The PC's physical memory map, as the firmware reports it (multiboot mmap, later e820).

Conventional memory up to the EBDA, the EBDA itself and the BIOS ROM reserved, the VGA and
option-ROM hole (0xA0000-0xF0000) not listed at all, and everything from 1 MiB to the end of
RAM available: SeaBIOS's table for a QEMU PC, clipped to the machine's RAM.

Example:
    for region in pc_memory_map(16 << 20):
        print(hex(region.base), hex(region.end), region.kind)   # 0x0 0x9fc00 1 ...
"""

from dataclasses import dataclass

from ..devices import layout

AVAILABLE, RESERVED = 1, 2       # the multiboot and e820 type codes


@dataclass(frozen=True)
class Region:
    base: int
    end: int
    kind: int

    @property
    def length(self):
        return self.end - self.base


def pc_memory_map(ram_size):
    """The regions of a PC with `ram_size` bytes of RAM at 0, in address order."""
    fixed = [(0, layout.EBDA_BASE, AVAILABLE), (layout.EBDA_BASE, layout.LOW_RAM_END, RESERVED),
             (layout.BIOS_ROM_BASE, layout.HIGH_RAM_BASE, RESERVED), (layout.HIGH_RAM_BASE, ram_size, AVAILABLE)]
    return [Region(base, min(end, ram_size), kind) for base, end, kind in fixed if base < min(end, ram_size)]


def available(ram_size):
    """Just the AVAILABLE regions: where a loader may put an image."""
    return [region for region in pc_memory_map(ram_size) if region.kind == AVAILABLE]
