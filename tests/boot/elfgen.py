"""Minimal ELF32 images for loader tests, written with struct (no toolchain needed).

Layout: ELF header, program headers, then each segment's bytes 4-byte aligned in order, so a
multiboot header at the start of the first segment lies aligned in the first 8 KiB.

Example:
    image = elf32(code=b"\\xf4", load=0x100000)            # header + hlt, entry 0x100000
    image = elf_image([Seg(0x100000, text), Seg(0x200000, data, memsz=0x3000)], entry=0x10000C)
    broken = patch_phdr(image, 0, filesz=0x10000)          # a header that lies about the file
"""

import struct
from dataclasses import dataclass

MB_MAGIC = 0x1BADB002
EHDR = struct.Struct("<16sHHIIIIIHHHHHH")
PHDR = struct.Struct("<8I")
PHDR_FIELDS = ("type", "offset", "vaddr", "paddr", "filesz", "memsz", "flags", "align")
PT_LOAD, PT_NOTE = 1, 4
EM_386 = 3


@dataclass
class Seg:
    paddr: int
    data: bytes
    memsz: int = None           # default: len(data), no bss
    vaddr: int = None           # default: paddr
    type: int = PT_LOAD


def multiboot_header(flags=0x3, checksum=None, addresses=()):
    """magic, flags, checksum (correct unless given), then the a.out-kludge address fields."""
    checksum = -(MB_MAGIC + flags) & 0xFFFFFFFF if checksum is None else checksum
    words = [MB_MAGIC, flags, checksum, *addresses]
    return struct.pack(f"<{len(words)}I", *words)


def elf_image(segments, entry, machine=EM_386, cls=1, endian=1):
    """An ET_EXEC image with one program header per Seg."""
    start = EHDR.size + PHDR.size * len(segments)
    phdrs, body = b"", b""
    for seg in segments:
        body += bytes(-(start + len(body)) % 4)
        memsz = len(seg.data) if seg.memsz is None else seg.memsz
        vaddr = seg.paddr if seg.vaddr is None else seg.vaddr
        phdrs += PHDR.pack(seg.type, start + len(body), vaddr, seg.paddr, len(seg.data), memsz, 7, 0x1000)
        body += seg.data
    ident = b"\x7fELF" + bytes([cls, endian, 1]) + bytes(9)
    ehdr = EHDR.pack(ident, 2, machine, 1, entry, EHDR.size, 0, 0, EHDR.size, PHDR.size, len(segments), 40, 0, 0)
    return ehdr + phdrs + body


def elf32(code, load=0x100000, bss=0, multiboot=True, machine=EM_386, cls=1, header=None, entry=None):
    """One PT_LOAD segment at `load`: [multiboot header (or `header`)] + code, then `bss` zero bytes."""
    body = (header if header is not None else multiboot_header() if multiboot else b"") + code
    return elf_image([Seg(load, body, len(body) + bss)], load if entry is None else entry, machine, cls)


def patch_phdr(image, index, **fields):
    """`image` with fields of program header `index` replaced (names as in PHDR_FIELDS)."""
    at = EHDR.size + index * PHDR.size
    values = dict(zip(PHDR_FIELDS, PHDR.unpack_from(image, at)), **fields)
    patched = bytearray(image)
    PHDR.pack_into(patched, at, *(values[name] for name in PHDR_FIELDS))
    return bytes(patched)
