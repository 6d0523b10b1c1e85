"""Multiboot v1 loader (spec 0.6.96) for ELF32 i386 kernels and a.out-kludge images.

The header (magic 0x1BADB002, flags, checksum with magic + flags + checksum == 0 mod 2^32) must
lie 32-bit aligned within the first 8 KiB of the file.  Header flags 0-15 are requirements:
bits 0 (page-aligned modules: there are none), 1 (memory information) and 2 (video: the EGA text
screen) are met; any of bits 3-15 fails the load, as the spec and GRUB 2 require.  Then either:
  * flag 16 (the a.out kludge) set: the header's header_addr, load_addr, load_end_addr,
    bss_end_addr and entry_addr say which bytes of the file go where; the file need not be ELF;
  * otherwise the ELF's PT_LOAD segments go to their physical addresses (p_paddr), bss zeroed,
    and the entry point is e_entry translated from virtual to physical through the segment that
    holds it (GRUB 2's rule, so higher-half kernels linked with AT() boot too).
Placement rule: every piece must lie inside one AVAILABLE region of the memory map the kernel
is given (0-0x9FC00 or 1 MiB-end of RAM) and must not overlap the boot information area
[0x9000, 0x10000) where the information structure and command line go.  Everything is checked
before the first byte is written.

Example:
    boot = load_multiboot(open("kernel.elf", "rb").read(), memory, cmdline="console=ttyS0")
    boot.entry, boot.regs          # 0x100000, {"eax": 0x2BADB002, "ebx": 0x9000}
"""

import struct
from dataclasses import dataclass

from ..devices import layout
from ..errors import ImageError
from .elf import read_elf32
from .memmap import available
from .multiboot_info import info_blobs
from .ram import place
from .state import BootState

HEADER_MAGIC, BOOT_MAGIC = 0x1BADB002, 0x2BADB002
SEARCH_LIMIT = 8192              # the header must lie entirely within the first 8 KiB
HEADER = struct.Struct("<III")   # magic, flags, checksum
ADDRESSES = struct.Struct("<5I")  # header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr
FLAG_UNSUPPORTED = 0x0000FFF8    # requirement bits 3-15: defined by no spec version vmm knows
FLAG_AOUT_KLUDGE = 1 << 16


@dataclass(frozen=True)
class MultibootHeader:
    offset: int                  # file offset of the magic
    flags: int
    addresses: tuple = None      # the five address fields, when flag 16 is set


@dataclass(frozen=True)
class Piece:
    """Bytes to place: `data` at `start`, zero-filled to `size`; `what` names it in messages."""

    what: str
    start: int
    data: bytes
    size: int

    @property
    def end(self):
        return self.start + self.size


def find_header(image, name):
    """The first valid multiboot header in the first 8 KiB, or None if there is no magic at all.

    Raises ImageError if the only candidates have a bad checksum, or the header asks for
    something this loader cannot give.
    """
    bad_checksum = None
    for offset in range(0, min(len(image), SEARCH_LIMIT) - HEADER.size + 1, 4):
        magic, flags, checksum = HEADER.unpack_from(image, offset)
        if magic != HEADER_MAGIC:
            continue
        if (magic + flags + checksum) & 0xFFFFFFFF == 0:
            return _header(image, offset, flags, name)
        if bad_checksum is None:
            bad_checksum = offset
    if bad_checksum is not None:
        raise ImageError(f"bad multiboot checksum (magic + flags + checksum != 0) in the header at file "
                         f"offset {bad_checksum:#x}: {name}")
    return None


def _header(image, offset, flags, name):
    if flags & FLAG_UNSUPPORTED:
        raise ImageError(f"the multiboot header requires features vmm does not provide "
                         f"(flags {flags & FLAG_UNSUPPORTED:#x}): {name}")
    if not flags & FLAG_AOUT_KLUDGE:
        return MultibootHeader(offset, flags)
    fields = offset + HEADER.size
    if fields + ADDRESSES.size > len(image):
        raise ImageError(f"truncated file: the multiboot header's address fields end past the end of the file: {name}")
    return MultibootHeader(offset, flags, ADDRESSES.unpack_from(image, fields))


def loads_by_address(image, name):
    """True if `image` carries a multiboot header with the a.out kludge (so it need not be ELF)."""
    header = find_header(image, name)
    return header is not None and header.addresses is not None


def load_multiboot(image, memory, cmdline="", name="image"):
    """Load a multiboot kernel from `image` (bytes) into `memory`; return the hand-off BootState."""
    if not image:
        raise ImageError(f"empty file: {name}")
    if memory.size < layout.BOOT_INFO_END:
        raise ImageError(f"guest RAM ({memory.size:#x} bytes) ends below the end of the boot information "
                         f"area ({layout.BOOT_INFO_END:#x}): {name}")
    header = find_header(image, name)
    if header is not None and header.addresses is not None:
        entry, pieces = _pieces_by_address(header, image, name)
    else:
        elf = read_elf32(image, name)     # first: "not an ELF file" says more than "no header"
        if header is None:
            raise ImageError(f"no multiboot header (magic 0x1BADB002) in the first 8 KiB: {name}")
        entry, pieces = _pieces_from_elf(elf, image, name)
    for piece in pieces:
        _check_placement(piece, memory.size, name)
    blobs = info_blobs(memory.size, cmdline, name)
    for piece in pieces:
        place(memory, piece.start, piece.data, piece.size, piece.what, name)
    for address, data in blobs:
        memory.write(address, data)
    return BootState(entry=entry, name=name, regs={"eax": BOOT_MAGIC, "ebx": layout.MULTIBOOT_INFO_ADDR},
                     loaded=[(piece.start, piece.end) for piece in pieces])


def _pieces_from_elf(elf, image, name):
    pieces = [Piece(f"segment {s.index}", s.paddr, image[s.offset:s.offset + s.filesz], s.memsz)
              for s in elf.segments]
    for s in elf.segments:
        if s.vaddr <= elf.entry < s.vaddr + s.memsz:
            return elf.entry - s.vaddr + s.paddr, pieces
    raise ImageError(f"the entry point {elf.entry:#x} is not inside any loadable segment: {name}")


def _pieces_by_address(header, image, name):
    header_addr, load_addr, load_end, bss_end, entry = header.addresses

    def inconsistent(why):
        return ImageError(f"multiboot address fields are inconsistent ({why}): {name}")

    if load_addr > header_addr:
        raise inconsistent(f"load_addr {load_addr:#x} > header_addr {header_addr:#x}")
    start = header.offset - (header_addr - load_addr)   # the file offset that goes to load_addr
    if start < 0:
        raise inconsistent(f"load_addr {load_addr:#x} lies before the start of the file")
    if load_end and load_end < load_addr:
        raise inconsistent(f"load_end_addr {load_end:#x} < load_addr {load_addr:#x}")
    end = start + (load_end - load_addr) if load_end else len(image)   # 0: the rest of the file
    if end > len(image):
        raise ImageError(f"truncated file: load_end_addr needs file bytes up to {end:#x} but the file has "
                         f"{len(image):#x}: {name}")
    data_end = load_addr + (end - start)
    if bss_end and bss_end < data_end:
        raise inconsistent(f"bss_end_addr {bss_end:#x} < the end of the loaded data {data_end:#x}")
    piece = Piece("the image", load_addr, image[start:end], max(bss_end, data_end) - load_addr)
    if not piece.start <= entry < piece.end:
        raise inconsistent(f"entry_addr {entry:#x} is outside the loaded image {piece.start:#x}-{piece.end:#x}")
    return entry, [piece]


def _check_placement(piece, ram_size, name):
    regions = available(ram_size)
    if not any(r.base <= piece.start and piece.end <= r.end for r in regions):
        ranges = ", ".join(f"{r.base:#x}-{r.end:#x}" for r in regions)
        raise ImageError(f"{piece.what} ({piece.start:#x}-{piece.end:#x}) does not fit in the RAM available "
                         f"to the guest ({ranges}): {name}")
    if piece.start < layout.BOOT_INFO_END and layout.MULTIBOOT_INFO_ADDR < piece.end:
        raise ImageError(f"{piece.what} ({piece.start:#x}-{piece.end:#x}) overlaps the boot information area "
                         f"({layout.MULTIBOOT_INFO_ADDR:#x}-{layout.BOOT_INFO_END:#x}): {name}")
