"""vmm/boot: multiboot ELF loading, the information structure, and clear errors for bad images."""

import struct

import pytest

from vmm.boot import load_image, load_multiboot
from vmm.boot.multiboot import BOOT_MAGIC
from vmm.devices import layout
from vmm.errors import ImageError
from vmm.memory import PhysicalMemory

from .elfgen import elf32, multiboot_header

MB = 1 << 20


@pytest.fixture
def memory():
    return PhysicalMemory(8 * MB)


def test_segments_loaded_and_bss_zeroed(memory):
    memory.write(0x100000, b"\xAA" * 0x400)
    image = elf32(b"\x90\xf4", bss=0x100)
    boot = load_multiboot(image, memory)
    body_len = 12 + 2
    assert memory.read(0x100000, body_len) == multiboot_header() + b"\x90\xf4"
    assert memory.read(0x100000 + body_len, 0x100) == bytes(0x100)
    assert boot.entry == 0x100000 and boot.loaded == [(0x100000, 0x100000 + body_len + 0x100)]


def test_entry_state_follows_the_spec(memory):
    boot = load_multiboot(elf32(b"\xf4", entry=0x10000C), memory, cmdline="iters=5 console=ttyS0")
    assert boot.regs == {"eax": BOOT_MAGIC, "ebx": layout.MULTIBOOT_INFO_ADDR}
    assert boot.entry == 0x10000C and boot.cr0 & 1 and not boot.eflags & 0x200


def test_information_structure(memory):
    load_multiboot(elf32(b"\xf4"), memory, cmdline="iters=5")
    info = memory.read(layout.MULTIBOOT_INFO_ADDR, 0x48)
    flags, lower, upper = struct.unpack_from("<III", info, 0)
    assert flags & (1 | 4 | 64 | 512) == (1 | 4 | 64 | 512)
    assert (lower, upper) == (640, 7 * 1024)
    cmdline = struct.unpack_from("<I", info, 16)[0]
    assert memory.read(cmdline, 8) == b"iters=5\0"
    name = struct.unpack_from("<I", info, 64)[0]
    assert memory.read(name, 4) == b"vmm\0"
    length, addr = struct.unpack_from("<II", info, 44)
    entries = [struct.unpack_from("<IQQI", memory.read(addr, length), k) for k in range(0, length, 24)]
    assert all(size == 20 for size, *_ in entries)
    assert (0x100000, 7 * MB, 1) in [(base, ln, kind) for _, base, ln, kind in entries]
    assert (0, 0x9FC00, 1) in [(base, ln, kind) for _, base, ln, kind in entries]


def test_aout_kludge_uses_header_addresses(memory):
    load = 0x200000
    code = b"\x90\x90\xf4"
    header_len = 32
    kludge = (load, load, load + header_len + len(code), load + 0x1000, load + header_len)
    header = multiboot_header(flags=0x10003, kludge=kludge)
    image = elf32(code, load=0x100000, header=header)
    boot = load_multiboot(image, memory)
    assert boot.entry == load + header_len
    assert memory.read(load + header_len, 3) == code


@pytest.mark.parametrize("image, message", [
    (b"", "empty file"),
    (b"MZ\x90\x00" + bytes(100), "not an ELF file"),
    (elf32(b"\xf4", multiboot=False), "no multiboot header"),
    (elf32(b"\xf4", header=multiboot_header(checksum=0)), "bad checksum"),
    (elf32(b"\xf4", cls=2), "64-bit ELF"),
    (elf32(b"\xf4", machine=62), "not i386"),
    (elf32(b"\xf4", load=0x7FFFF0, bss=0x1000), "does not fit"),
    (elf32(b"\xf4", load=0x1000), "does not fit"),
    (elf32(b"\xf4" * 64)[:-40], "truncated"),
])
def test_bad_images_give_one_clear_error(memory, image, message):
    with pytest.raises(ImageError) as error:
        load_multiboot(image, memory, name="guest.elf")
    assert message in str(error.value) and "guest.elf" in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_file_and_flat_hint(tmp_path, memory):
    with pytest.raises(ImageError, match="No such file"):
        load_image(tmp_path / "nope.elf", memory)
    flat = tmp_path / "code.bin"
    flat.write_bytes(b"\xf4")
    with pytest.raises(ImageError, match="--load-address"):
        load_image(flat, memory)
    assert load_image(flat, memory, flat_address=0x7000).entry == 0x7000
