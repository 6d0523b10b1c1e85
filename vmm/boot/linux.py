"""The Linux x86 32-bit boot protocol (Documentation/arch/x86/boot.rst): a bzImage entered at
its 32-bit entry point, with no BIOS and no real-mode setup code run.

What a boot loader does for that entry, and what this one does:
  * the protected-mode kernel (the file after its 1 + setup_sects sectors of real-mode setup)
    goes to 1 MiB, where code32_start points;
  * a zero page, `boot_params`, gets the image's setup header copied in (offset 0x1F1 up to
    0x202 + the byte at 0x201), then the loader's fields: type_of_loader 0xFF (undefined
    loader), cmd_line_ptr, ramdisk_image/ramdisk_size, and an e820 memory map built from -m
    (the same map the multiboot loader reports, vmm.boot.memmap);
  * the initrd goes page-aligned at the top of RAM below initrd_addr_max and below 896 MiB
    (so a 32-bit kernel finds it in low memory and need not copy it), as QEMU places it;
  * the CPU starts at code32_start in flat 32-bit protected mode, paging and interrupts off,
    ESI = boot_params, CS = __BOOT_CS (0x10) and the data segments __BOOT_DS (0x18) from a GDT
    the loader writes (the kernel loads its own, but the protocol names these selectors);
  * the physical bus behaves as a PC's (BootState.open_bus): Linux touches addresses with no
    RAM behind them (its stack canary through %fs before paging is on, probes).
Only boot protocol 2.06 and later is accepted (cmdline_size; every kernel since 2.6.22),
and only kernels that can run on a 32-bit CPU (xloadflags bit 0 marks a 64-bit kernel).

Layout in the boot information area (vmm.devices.layout): boot_params at 0x9000, the GDT
at 0xA000, the command line at 0xB000 up to 0x10000.

Example:
    boot = load_linux(kernel_bytes, memory, initrd=initrd_bytes, cmdline="console=ttyS0")
    boot.entry, boot.regs            # 0x100000, {"esi": 0x9000}
"""

import struct

from ..devices import layout
from ..errors import ImageError
from .memmap import pc_memory_map
from .ram import place
from .state import BootState

SETUP_SECTS, HEADER_MAGIC_AT, VERSION_AT, HEADER_END_AT = 0x1F1, 0x202, 0x206, 0x201
LOADFLAGS, CODE32_START, RAMDISK_IMAGE, RAMDISK_SIZE = 0x211, 0x214, 0x218, 0x21C
TYPE_OF_LOADER, CMD_LINE_PTR, INITRD_ADDR_MAX = 0x210, 0x228, 0x22C
XLOADFLAGS, CMDLINE_SIZE = 0x236, 0x238
E820_ENTRIES, E820_TABLE, E820_MAX = 0x1E8, 0x2D0, 128
BOOT_PARAMS_SIZE = 0x1000
LOADED_HIGH = 0x01               # loadflags: the protected-mode kernel runs at 1 MiB (a bzImage)
XLF_KERNEL_64 = 0x01             # xloadflags: a 64-bit kernel
MIN_VERSION = 0x0206
LOWMEM_END = 0x38000000          # 896 MiB: a 32-bit kernel's directly mapped memory
BOOT_CS, BOOT_DS = 0x10, 0x18
# GDT entries 2 and 3: flat 4 GiB code (execute/read) and data (read/write), DPL 0.
BOOT_GDT = struct.pack("<4Q", 0, 0, 0x00CF9A000000FFFF, 0x00CF92000000FFFF)
E820_ENTRY = struct.Struct("<QQI")
PAGE = 0x1000


def is_bzimage(image):
    """True if `image` carries a Linux setup header ("HdrS" at 0x202)."""
    return image[HEADER_MAGIC_AT:HEADER_MAGIC_AT + 4] == b"HdrS"


def load_linux(image, memory, initrd=b"", cmdline="", name="kernel"):
    """Load bzImage bytes `image` (and `initrd` bytes) into `memory`; return the BootState."""
    header = _check_header(image, name)
    setup_sects = image[SETUP_SECTS] or 4
    kernel = image[(setup_sects + 1) * 512:]
    if not kernel:
        raise ImageError(f"truncated bzImage: nothing after the {setup_sects} setup sectors: {name}")
    entry = struct.unpack_from("<I", image, CODE32_START)[0]
    command = cmdline.encode() + b"\0"
    room = min(struct.unpack_from("<I", image, CMDLINE_SIZE)[0] + 1, layout.BOOT_INFO_END - layout.LINUX_CMDLINE_ADDR)
    if b"\0" in command[:-1] or len(command) > room:
        raise ImageError(f"the command line must be at most {room - 1} bytes with no NUL: {name}")
    params = bytearray(BOOT_PARAMS_SIZE)
    params[SETUP_SECTS:len(header) + SETUP_SECTS] = header
    params[TYPE_OF_LOADER] = 0xFF
    struct.pack_into("<I", params, CMD_LINE_PTR, layout.LINUX_CMDLINE_ADDR)
    regions = pc_memory_map(memory.size)
    params[E820_ENTRIES] = len(regions)
    for index, region in enumerate(regions):
        E820_ENTRY.pack_into(params, E820_TABLE + index * E820_ENTRY.size, region.base, region.length, region.kind)
    place(memory, entry, kernel, len(kernel), "the protected-mode kernel", name)
    loaded = [(entry, entry + len(kernel))]
    if initrd:
        start = _initrd_address(image, memory.size, len(initrd), entry + len(kernel), name)
        place(memory, start, initrd, len(initrd), "the initrd", name)
        struct.pack_into("<II", params, RAMDISK_IMAGE, start, len(initrd))
        loaded.append((start, start + len(initrd)))
    memory.write(layout.LINUX_BOOT_PARAMS_ADDR, bytes(params))
    memory.write(layout.LINUX_GDT_ADDR, BOOT_GDT)
    memory.write(layout.LINUX_CMDLINE_ADDR, command)
    return BootState(entry=entry, name=name, regs={"esi": layout.LINUX_BOOT_PARAMS_ADDR, "ebp": 0, "edi": 0, "ebx": 0},
                     loaded=loaded, selectors=(BOOT_CS, BOOT_DS), gdt=(layout.LINUX_GDT_ADDR, len(BOOT_GDT) - 1),
                     open_bus=True)


def _check_header(image, name):
    """The setup header bytes (from 0x1F1), after checking this loader can boot the image."""
    if len(image) < 0x400 or not is_bzimage(image):
        raise ImageError(f"not a Linux bzImage (no 'HdrS' setup header at 0x202): {name}")
    version = struct.unpack_from("<H", image, VERSION_AT)[0]
    if version < MIN_VERSION:
        raise ImageError(f"Linux boot protocol {version >> 8}.{version & 0xFF:02} is too old "
                         f"(vmm needs 2.06 or later): {name}")
    if not image[LOADFLAGS] & LOADED_HIGH:
        raise ImageError(f"a zImage (loaded at 64 KiB) rather than a bzImage: vmm boots bzImages only: {name}")
    if struct.unpack_from("<H", image, XLOADFLAGS)[0] & XLF_KERNEL_64:
        raise ImageError(f"a 64-bit kernel: vmm's CPU is 32-bit (i686), boot an i386 kernel: {name}")
    return image[SETUP_SECTS:HEADER_MAGIC_AT + image[HEADER_END_AT]]


def _initrd_address(image, ram_size, size, kernel_end, name):
    """Page-aligned, as high as RAM, initrd_addr_max and low memory allow; above the kernel."""
    limit = min(struct.unpack_from("<I", image, INITRD_ADDR_MAX)[0] + 1, ram_size, LOWMEM_END)
    start = (limit - size) & ~(PAGE - 1)
    if start < kernel_end:
        raise ImageError(f"the initrd ({size} bytes) does not fit in guest RAM above the kernel "
                         f"(RAM ends at {ram_size:#x}); give more memory with -m: {name}")
    return start
