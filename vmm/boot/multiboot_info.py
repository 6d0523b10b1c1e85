"""The multiboot v1 information structure a loader hands the kernel in EBX (spec section 3.3).

Everything lives in the boot information area of the layout, [0x9000, 0x10000):
    0x9000 the structure: flags, mem_lower/mem_upper (bit 0: KiB from 0 and from 1 MiB), cmdline (bit 2), mmap (bit 6),
           boot_loader_name (bit 9), framebuffer (bit 12: the 80x25 EGA text screen at 0xB8000,
           which is what a kernel asking for video with header flag 2 gets)
    0x9100 the memory map: entries of {u32 size = 20, u64 base, u64 length, u32 type}, the
           size field preceding each entry as the spec lays it out
    0x9200 the boot loader name "vmm"
    0x9800 the command line, NUL-terminated, up to the end of the area
`info_blobs` only computes the bytes, so a loader can check everything before writing anything.

Example:
    for addr, data in info_blobs(memory.size, "console=ttyS0", name="kernel.elf"):
        memory.write(addr, data)
"""

import struct

from ..devices import layout
from ..errors import ImageError
from .memmap import AVAILABLE, pc_memory_map

INFO_MEMORY, INFO_CMDLINE, INFO_MMAP, INFO_LOADER_NAME, INFO_FRAMEBUFFER = 1 << 0, 1 << 2, 1 << 6, 1 << 9, 1 << 12
INFO_SIZE = 116                  # up to and including the framebuffer fields
MMAP_ENTRY = struct.Struct("<IQQI")
MMAP_ENTRY_SIZE = MMAP_ENTRY.size - 4   # the `size` field counts the bytes after itself: 20
FB_TYPE_EGA_TEXT = 2
LOADER_NAME = b"vmm\0"
CMDLINE_ROOM = layout.BOOT_INFO_END - layout.MULTIBOOT_CMDLINE_ADDR


def info_blobs(ram_size, cmdline, name):
    """[(address, bytes)] of the information structure and what it points to."""
    command = cmdline.encode() + b"\0"
    if b"\0" in command[:-1]:
        raise ImageError(f"the command line contains a NUL byte, which would end it early: {name}")
    if len(command) > CMDLINE_ROOM:
        raise ImageError(f"command line too long ({len(command) - 1} bytes, at most {CMDLINE_ROOM - 1}): {name}")
    regions = pc_memory_map(ram_size)
    # At most 4 regions: 96 bytes, well inside the 0x100 between the map and the loader name.
    mmap = b"".join(MMAP_ENTRY.pack(MMAP_ENTRY_SIZE, r.base, r.length, r.kind) for r in regions)
    cols, rows = layout.VGA_TEXT_COLS, layout.VGA_TEXT_ROWS
    info = bytearray(INFO_SIZE)
    flags = INFO_MEMORY | INFO_CMDLINE | INFO_MMAP | INFO_LOADER_NAME | INFO_FRAMEBUFFER
    # The spec's definitions, read off the same map: KiB of RAM from 0 and from 1 MiB up to the
    # first hole.  So mem_lower is 639 (the EBDA takes the last KiB below 640), as QEMU reports.
    mem_lower, mem_upper = _available_kib(regions, 0), _available_kib(regions, layout.HIGH_RAM_BASE)
    struct.pack_into("<III", info, 0, flags, mem_lower, mem_upper)
    struct.pack_into("<I", info, 16, layout.MULTIBOOT_CMDLINE_ADDR)
    struct.pack_into("<II", info, 44, len(mmap), layout.MULTIBOOT_MMAP_ADDR)
    struct.pack_into("<I", info, 64, layout.MULTIBOOT_LOADER_NAME_ADDR)
    struct.pack_into("<QIIIBB", info, 88, layout.VGA_TEXT_BASE, 2 * cols, cols, rows, 16, FB_TYPE_EGA_TEXT)
    return [(layout.MULTIBOOT_INFO_ADDR, bytes(info)), (layout.MULTIBOOT_MMAP_ADDR, mmap),
            (layout.MULTIBOOT_LOADER_NAME_ADDR, LOADER_NAME), (layout.MULTIBOOT_CMDLINE_ADDR, command)]


def _available_kib(regions, base):
    return next((r.length >> 10 for r in regions if r.base == base and r.kind == AVAILABLE), 0)
