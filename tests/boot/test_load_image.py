"""vmm/boot/__init__.py: load_image reads the file and picks the loader."""

import pytest

from vmm.boot import load_image
from vmm.errors import ImageError
from vmm.memory import PhysicalMemory

from .elfgen import elf32, multiboot_header


@pytest.fixture
def memory():
    return PhysicalMemory(4 << 20)


def test_an_elf_file_boots_as_multiboot(tmp_path, memory):
    path = tmp_path / "k.elf"
    path.write_bytes(elf32(b"\xf4"))
    boot = load_image(path, memory, cmdline="quiet")
    assert boot.regs["eax"] == 0x2BADB002 and boot.name == str(path) and boot.entry == 0x100000


def test_a_load_address_means_flat_whatever_the_file_holds(tmp_path, memory):
    path = tmp_path / "k.elf"
    image = elf32(b"\xf4")
    path.write_bytes(image)
    boot = load_image(str(path), memory, flat_address=0x200000)
    assert boot.regs == {} and memory.read(0x200000, len(image)) == image


def test_a_raw_binary_with_an_aout_kludge_header_needs_no_address(tmp_path, memory):
    path = tmp_path / "raw.bin"
    path.write_bytes(multiboot_header(flags=0x10000, addresses=(0x100000, 0x100000, 0, 0, 0x100020)) + b"\xf4")
    assert load_image(path, memory).entry == 0x100020


def test_a_non_elf_file_without_address_says_how_to_load_it(tmp_path, memory):
    path = tmp_path / "code.bin"
    path.write_bytes(b"\xb8\x01\x00\x00\x00\xf4")
    with pytest.raises(ImageError, match=r"not an ELF file; to run a flat binary, give its load address "
                                         r"\(--load-address, flat_address=\): .*code.bin$"):
        load_image(path, memory)


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "missing.elf", "cannot read the image (No such file or directory)"),
    (lambda tmp: tmp, "cannot read the image (Is a directory)"),
])
def test_unreadable_paths(tmp_path, memory, make, message):
    path = make(tmp_path)
    with pytest.raises(ImageError) as error:
        load_image(path, memory)
    assert message in str(error.value) and str(error.value).endswith(str(path))


def test_an_empty_file(tmp_path, memory):
    path = tmp_path / "empty.elf"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match="empty file"):
        load_image(path, memory)
