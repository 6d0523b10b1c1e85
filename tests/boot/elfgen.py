"""Minimal ELF32 i386 images for loader tests, written with struct (no toolchain needed).

Example:
    image = elf32(code=b"\\xf4", load=0x100000, multiboot=True)
"""

import struct

MB_MAGIC = 0x1BADB002


def multiboot_header(flags=0x3, checksum=None, kludge=None):
    checksum = (-(MB_MAGIC + flags)) & 0xFFFFFFFF if checksum is None else checksum
    words = [MB_MAGIC, flags, checksum] + (list(kludge) if kludge else [])
    return struct.pack(f"<{len(words)}I", *words)


def elf32(code, load=0x100000, bss=0, multiboot=True, machine=3, cls=1, header=None, entry=None):
    """An executable with one PT_LOAD segment: [multiboot header] + code at `load`."""
    body = (header if header is not None else multiboot_header() if multiboot else b"") + code
    ehsize, phsize = 52, 32
    offset = ehsize + phsize
    ident = b"\x7fELF" + bytes([cls, 1, 1]) + bytes(9)
    ehdr = ident + struct.pack("<HHIIIIIHHHHHH", 2, machine, 1, entry or load, ehsize, 0, 0, ehsize, phsize, 1, 40, 0, 0)
    phdr = struct.pack("<IIIIIIII", 1, offset, load, load, len(body), len(body) + bss, 7, 0x1000)
    return ehdr + phdr + body
