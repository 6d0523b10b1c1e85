"""ELF32 i386 executables, parsed with LIEF and checked against the file before anything loads.

`read_elf32` returns the entry point and the PT_LOAD segments that occupy memory, or raises
one ImageError line naming the file: not an ELF file, 64-bit, big-endian, not i386, an ELF
header, program header table or segment that runs past the end of the file, p_filesz > p_memsz, nothing to load.

LIEF 1.0.0 is lenient with damaged files, so two facts come from the file itself:
  * It silently drops program headers that lie past the end of the file, so the table's extent
    is checked against the file and LIEF's segment count against e_phnum.
  * It lowers p_filesz to what the file holds for a segment that contains the ELF header, so
    p_filesz is read from the program header table.
LIEF's own log lines and its RuntimeWarnings (values outside its enums: an unknown p_type or
e_machine) are silenced while it parses: a bad image gets our one line only.  LIEF is imported
on the first parse (importing it costs about a third of a second, most of vmm's start-up), and
successful parses are cached on disk by image hash (vmm.boot.elfcache), so an image loaded
before does not import LIEF at all.

Example:
    elf = read_elf32(open("hello.elf", "rb").read(), name="hello.elf")
    elf.entry, [(s.paddr, s.memsz) for s in elf.segments]
"""

import struct
import warnings
from dataclasses import dataclass

from ..errors import ImageError
from .elfcache import cached

ELF_MAGIC = b"\x7fELF"
ELFCLASS32, ELFCLASS64, ELFDATA2LSB = b"\x01", b"\x02", b"\x01"   # e_ident[4], e_ident[5]
EHDR32_SIZE, PHDR32_SIZE = 52, 32
P_FILESZ = 16                    # offset of p_filesz inside an Elf32_Phdr
E_MACHINE = 18                   # offset of e_machine inside the ELF header


@dataclass(frozen=True)
class LoadSegment:
    """One PT_LOAD entry: `filesz` bytes at file `offset` go to `paddr`, zero-filled up to `memsz`."""

    index: int                   # position in the program header table, for messages
    offset: int
    filesz: int
    paddr: int
    vaddr: int
    memsz: int


@dataclass(frozen=True)
class Elf32:
    entry: int                   # e_entry, a virtual address
    segments: list               # LoadSegment, in program header order, each with memsz > 0


def is_elf(image):
    return image[:4] == ELF_MAGIC


def read_elf32(image, name):
    """Parse `image` (bytes) as an ELF32 i386 executable; ImageError naming `name` if it is not one."""
    if not is_elf(image):
        raise ImageError(f"not an ELF file: {name}")
    # The identification and the header's length are checked before LIEF sees the file: it
    # returns None for a class/layout mismatch and zero-fills a short header, hiding the reason.
    cls, encoding = image[4:5], image[5:6]
    if cls == ELFCLASS64:
        raise ImageError(f"64-bit ELF; vmm runs 32-bit x86 guests (ELF32, i386): {name}")
    if cls != ELFCLASS32:
        raise ImageError(f"malformed ELF identification (class byte {cls.hex() or 'missing'}): {name}")
    if encoding != ELFDATA2LSB:
        raise ImageError(f"not a little-endian ELF (data encoding byte {encoding.hex() or 'missing'}); "
                         f"i386 images are: {name}")
    if len(image) < EHDR32_SIZE:
        raise ImageError(f"truncated file: the ELF header needs {EHDR32_SIZE:#x} bytes but the file has "
                         f"{len(image):#x}: {name}")
    return cached(image, lambda: _parse(image, name), _encode, _decode)


def _encode(elf):
    return {"entry": elf.entry, "segments": [list(vars(s).values()) for s in elf.segments]}


def _decode(data):
    return Elf32(data["entry"], [LoadSegment(*fields) for fields in data["segments"]])


def _parse(image, name):
    import lief
    with lief.logging.level_scope(lief.logging.LEVEL.OFF), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        binary = lief.ELF.parse(image)
        if binary is None:
            raise ImageError(f"malformed ELF file (truncated or corrupt headers): {name}")
        header = binary.header
        if header.machine_type != lief.ELF.ARCH.I386:
            raise ImageError(f"ELF for {_machine_name(image, header.machine_type)}, not i386 (EM_386): {name}")
        _check_program_headers(image, header, len(binary.segments), name)
        segments = [_load_segment(image, header.program_header_offset, index, segment, name)
                    for index, segment in enumerate(binary.segments)
                    if segment.type == lief.ELF.Segment.TYPE.LOAD and segment.virtual_size]
        entry = header.entrypoint
    if not segments:
        raise ImageError(f"ELF file has no loadable segments: {name}")
    return Elf32(entry, segments)


def _machine_name(image, machine):
    """LIEF's name for e_machine, or the number when LIEF does not know it (it gives an int)."""
    return getattr(machine, "name", None) or f"e_machine {struct.unpack_from('<H', image, E_MACHINE)[0]:#x}"


def _check_program_headers(image, header, parsed, name):
    count, offset = header.numberof_segments, header.program_header_offset
    if count and header.program_header_size != PHDR32_SIZE:
        raise ImageError(f"malformed ELF: program headers of {header.program_header_size} bytes, "
                         f"not {PHDR32_SIZE}: {name}")
    end = offset + count * PHDR32_SIZE
    if end > len(image) or parsed != count:
        raise ImageError(f"truncated file: the program header table ({offset:#x}-{end:#x}) ends "
                         f"past the end of the file ({len(image):#x} bytes): {name}")


def _load_segment(image, table, index, segment, name):
    filesz = struct.unpack_from("<I", image, table + index * PHDR32_SIZE + P_FILESZ)[0]
    start, memsz = segment.file_offset, segment.virtual_size
    if start + filesz > len(image):
        raise ImageError(f"truncated file: segment {index} needs file bytes {start:#x}-{start + filesz:#x} "
                         f"but the file has {len(image):#x}: {name}")
    if filesz > memsz:
        raise ImageError(f"malformed ELF: segment {index} has p_filesz {filesz:#x} > p_memsz {memsz:#x}: {name}")
    return LoadSegment(index, start, filesz, segment.physical_address, segment.virtual_address, memsz)
