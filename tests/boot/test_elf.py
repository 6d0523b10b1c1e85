"""vmm/boot/elf.py: which PT_LOAD segments an ELF32 i386 file yields, and every way it can be refused."""

import lief
import pytest

from vmm.boot.elf import read_elf32
from vmm.errors import ImageError

from .elfgen import PT_NOTE, Seg, elf32, elf_image, patch_phdr


def test_load_segments_in_table_order_with_addresses_and_sizes():
    image = elf_image([Seg(0x100000, b"text", vaddr=0xC0100000), Seg(0, b"note", type=PT_NOTE),
                       Seg(0x200000, b"data", memsz=0x1000)], entry=0xC0100000)
    elf = read_elf32(image, "k.elf")
    assert elf.entry == 0xC0100000
    assert [(s.index, s.paddr, s.vaddr, s.filesz, s.memsz) for s in elf.segments] == [
        (0, 0x100000, 0xC0100000, 4, 4), (2, 0x200000, 0x200000, 4, 0x1000)]
    assert [image[s.offset:s.offset + s.filesz] for s in elf.segments] == [b"text", b"data"]


def test_empty_segments_are_skipped():
    image = elf_image([Seg(0x100000, b"\xf4"), Seg(0x300000, b"", memsz=0)], entry=0x100000)
    assert [s.paddr for s in read_elf32(image, "k.elf").segments] == [0x100000]


def test_filesz_comes_from_the_file_not_from_lief():
    # LIEF 1.0.0 lowers p_filesz to the file's size for a segment that starts at offset 0; the
    # header says more bytes than the file has, so this file is truncated and must be refused.
    image = elf32(b"\x90" * 300)
    lying = patch_phdr(image, 0, offset=0, filesz=len(image) + 100, memsz=len(image) + 100)
    with pytest.raises(ImageError, match=r"truncated file: segment 0 needs file bytes 0x0-0x1f0"):
        read_elf32(lying, "k.elf")


REFUSALS = [
    (b"MZ\x90\x00" + bytes(60), "not an ELF file"),
    (b"\x7fELF", "malformed ELF identification (class byte missing)"),
    (elf32(b"\xf4", cls=2), "64-bit ELF"),
    (elf32(b"\xf4", cls=7), "malformed ELF identification (class byte 07)"),
    (elf_image([Seg(0x100000, b"\xf4")], 0x100000, endian=2), "not a little-endian ELF (data encoding byte 02)"),
    (elf32(b"\xf4", machine=62), "ELF for X86_64, not i386 (EM_386)"),
    (elf32(b"\xf4", machine=40), "ELF for ARM, not i386"),
    (elf32(b"\xf4")[:40], "truncated file: the ELF header needs 0x34 bytes but the file has 0x28"),
    (elf32(b"\xf4")[:70], "truncated file: the program header table (0x34-0x54)"),
    (elf32(b"\xf4" * 64)[:-10], "truncated file: segment 0 needs file bytes 0x54-0xa0"),
    (patch_phdr(elf32(b"\xf4" * 8), 0, memsz=4), "p_filesz 0x14 > p_memsz 0x4"),
    (patch_phdr(elf32(b"\xf4"), 0, type=PT_NOTE), "no loadable segments"),
]


@pytest.mark.parametrize("image, message", REFUSALS, ids=[message[:40] for _, message in REFUSALS])
def test_refusals_name_the_file_in_one_line(image, message):
    with pytest.raises(ImageError) as error:
        read_elf32(image, "guest.elf")
    text = str(error.value)
    assert message in text and text.endswith(": guest.elf") and "\n" not in text


def test_lief_stays_quiet_on_malformed_input(capfd):
    for image in (elf32(b"\xf4")[:40], elf32(b"\xf4")[:70], elf32(b"\xf4" * 64)[:-10]):
        with pytest.raises(ImageError):
            read_elf32(image, "guest.elf")
    assert capfd.readouterr() == ("", "")      # LIEF logs from C++ straight to fd 2


def test_an_elf_lief_cannot_parse(monkeypatch):
    monkeypatch.setenv("VMM_NO_CACHE", "1")      # a parse cached by another test would skip LIEF
    monkeypatch.setattr(lief.ELF, "parse", lambda image: None)
    with pytest.raises(ImageError, match="malformed ELF file .*: guest.elf"):
        read_elf32(elf32(b"\xf4"), "guest.elf")
