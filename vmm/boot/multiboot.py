"""Multiboot v1 loader for ELF32 i386 kernels (parsed with LIEF), per the Multiboot 0.6.96 spec.

The header (magic 0x1BADB002, flags, checksum with magic + flags + checksum == 0) must lie
32-bit aligned in the first 8 KiB of the file.  PT_LOAD segments are copied to their
physical addresses and their bss zeroed, or, with header flag 16 (the a.out kludge), the
header's address fields say what to load.  The information structure (memory sizes, a
memory map, the command line, the loader name) is built at layout.MULTIBOOT_INFO_ADDR.
Segments must lie between 0x10000 (below it sit the info structure and the command line)
and the end of RAM.

Example:
    boot = load_multiboot(open("hello.elf", "rb").read(), memory, cmdline="iters=10")
"""

import struct

import lief

from ..devices import layout
from ..errors import ImageError
from .state import BootState

MAGIC, BOOT_MAGIC = 0x1BADB002, 0x2BADB002
SEARCH = 8192
FLAG_AOUT_KLUDGE = 1 << 16
LOADER_NAME = b"vmm\0"
LOW_LIMIT = 0x10000              # the info structure and command line live below this

lief.logging.disable()           # malformed input gets our one-line error, not LIEF's chatter


def find_header(image, name):
    """(offset, flags, header words) of the multiboot header, or ImageError."""
    for offset in range(0, min(len(image), SEARCH) - 11, 4):
        magic, flags, checksum = struct.unpack_from("<III", image, offset)
        if magic != MAGIC:
            continue
        if (magic + flags + checksum) & 0xFFFFFFFF:
            raise ImageError(f"{name}: multiboot header at offset {offset:#x} has a bad checksum")
        words = struct.unpack_from("<8I", image + bytes(32), offset)
        return offset, flags, words
    raise ImageError(f"{name}: no multiboot header in the first 8 KiB")


def _check_range(name, start, length, memory):
    if start < LOW_LIMIT or start + length > memory.size:
        raise ImageError(f"{name}: segment {start:#x}-{start + length:#x} does not fit in guest RAM "
                         f"({LOW_LIMIT:#x}-{memory.size:#x})")


def _load_elf(image, memory, name):
    elf = lief.ELF.parse(list(image))
    if elf is None:
        raise ImageError(f"{name}: not a valid ELF file")
    if elf.header.identity_class != lief.ELF.Header.CLASS.ELF32:
        raise ImageError(f"{name}: 64-bit ELF; vmm runs 32-bit x86 guests")
    if elf.header.machine_type != lief.ELF.ARCH.I386:
        raise ImageError(f"{name}: ELF for {elf.header.machine_type.name}, not i386")
    loaded = []
    for seg in elf.segments:
        if seg.type != lief.ELF.Segment.TYPE.LOAD or seg.virtual_size == 0:
            continue
        if seg.file_offset + seg.physical_size > len(image):
            raise ImageError(f"{name}: truncated: a segment extends past the end of the file")
        _check_range(name, seg.physical_address, seg.virtual_size, memory)
        data = image[seg.file_offset:seg.file_offset + seg.physical_size]
        memory.write(seg.physical_address, data + bytes(seg.virtual_size - len(data)))
        loaded.append((seg.physical_address, seg.physical_address + seg.virtual_size))
    if not loaded:
        raise ImageError(f"{name}: no loadable segments")
    return elf.header.entrypoint, loaded


def _load_kludge(image, memory, name, offset, words):
    header_addr, load_addr, load_end, bss_end, entry = words[3:8]
    start = offset - (header_addr - load_addr)
    end = len(image) if load_end == 0 else start + (load_end - load_addr)
    if start < 0 or end > len(image) or end < start:
        raise ImageError(f"{name}: multiboot address fields do not match the file")
    top = max(load_addr + (end - start), bss_end)
    _check_range(name, load_addr, top - load_addr, memory)
    memory.write(load_addr, image[start:end] + bytes(top - load_addr - (end - start)))
    return entry, [(load_addr, top)]


def _info(memory, cmdline):
    """Write the multiboot information structure; return its address."""
    info_addr, cmd_addr = layout.MULTIBOOT_INFO_ADDR, layout.MULTIBOOT_CMDLINE_ADDR
    command = cmdline.encode() + b"\0"
    if cmd_addr + len(command) + len(LOADER_NAME) > LOW_LIMIT:
        raise ImageError("command line too long")
    name_addr = cmd_addr + len(command)
    regions = [(0, 0x9FC00, 1), (0x9FC00, 0x400, 2), (0xF0000, 0x10000, 2), (0x100000, memory.size - 0x100000, 1)]
    mmap = b"".join(struct.pack("<IQQI", 20, base, length, kind) for base, length, kind in regions)
    mmap_addr = info_addr + 0x100
    flags = (1 << 0) | (1 << 2) | (1 << 6) | (1 << 9)
    info = bytearray(0x60)
    struct.pack_into("<III", info, 0, flags, 640, (memory.size - 0x100000) >> 10)
    struct.pack_into("<I", info, 16, cmd_addr)
    struct.pack_into("<II", info, 44, len(mmap), mmap_addr)
    struct.pack_into("<I", info, 64, name_addr)
    memory.write(info_addr, bytes(info))
    memory.write(mmap_addr, mmap)
    memory.write(cmd_addr, command + LOADER_NAME)
    return info_addr


def load_multiboot(image, memory, cmdline="", name="image"):
    if not image:
        raise ImageError(f"{name}: empty file")
    if image[:4] != b"\x7fELF":
        raise ImageError(f"{name}: not an ELF file")
    offset, flags, words = find_header(image, name)
    if flags & FLAG_AOUT_KLUDGE:
        entry, loaded = _load_kludge(image, memory, name, offset, words)
    else:
        entry, loaded = _load_elf(image, memory, name)
    info = _info(memory, cmdline)
    return BootState(entry=entry, name=name, regs={"eax": BOOT_MAGIC, "ebx": info}, loaded=loaded)
