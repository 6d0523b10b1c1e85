"""vmm/boot/multiboot.py: the header search, what gets loaded where, the hand-off, and refusals."""

import shutil
import struct
import subprocess

import pytest

from vmm.boot.multiboot import BOOT_MAGIC, find_header, load_multiboot
from vmm.devices import layout
from vmm.errors import ImageError
from vmm.memory import PhysicalMemory

from .elfgen import Seg, elf32, elf_image, multiboot_header

MB = 1 << 20
INFO = layout.MULTIBOOT_INFO_ADDR


@pytest.fixture
def memory():
    return PhysicalMemory(8 * MB)


def info_field(memory, offset, fmt="<I"):
    return struct.unpack_from(fmt, memory.read(INFO + offset, struct.calcsize(fmt)))[0]


def c_string(memory, address):
    raw = memory.read(address, layout.BOOT_INFO_END - address)
    return raw[:raw.index(0)].decode()


# ---- loading -----------------------------------------------------------------------------------

def test_segments_go_to_their_physical_addresses_and_bss_is_zeroed(memory):
    memory.write(0x200000, b"\xAA" * 0x3000)                      # stale bytes where the bss goes
    text = multiboot_header() + b"\x90\xf4"
    image = elf_image([Seg(0x100000, text), Seg(0x200000, b"data", memsz=0x3000)], entry=0x10000C)
    boot = load_multiboot(image, memory, name="k.elf")
    assert memory.read(0x100000, len(text)) == text
    assert memory.read(0x200000, 4) == b"data" and memory.read(0x200004, 0x3000 - 4) == bytes(0x3000 - 4)
    assert boot.loaded == [(0x100000, 0x100000 + len(text)), (0x200000, 0x203000)]
    assert boot.entry == 0x10000C and boot.name == "k.elf"


def test_a_higher_half_kernel_starts_at_the_physical_entry(memory):
    text = multiboot_header() + b"\xf4"
    image = elf_image([Seg(0x100000, text, vaddr=0xC0100000)], entry=0xC010000C)
    assert load_multiboot(image, memory).entry == 0x10000C


def test_hand_off_state_is_the_specs(memory):
    boot = load_multiboot(elf32(b"\xf4"), memory)
    assert boot.regs == {"eax": 0x2BADB002, "ebx": INFO} and BOOT_MAGIC == 0x2BADB002
    assert boot.cr0 & 0x1 and not boot.cr0 & 0x80000000            # PE on, paging off
    assert boot.eflags == 0x2 and boot.flat_segments                 # IF clear


# ---- the information structure ---------------------------------------------------------------

def test_information_structure(memory):
    load_multiboot(elf32(b"\xf4"), memory, cmdline="console=ttyS0 iters=5")
    flags = info_field(memory, 0)
    assert flags == (1 << 0) | (1 << 2) | (1 << 6) | (1 << 9) | (1 << 12)
    assert (info_field(memory, 4), info_field(memory, 8)) == (639, 7 * 1024)    # KiB from 0 and from 1 MiB
    assert info_field(memory, 16) == layout.MULTIBOOT_CMDLINE_ADDR
    assert c_string(memory, info_field(memory, 16)) == "console=ttyS0 iters=5"
    assert c_string(memory, info_field(memory, 64)) == "vmm"
    assert struct.unpack_from("<QIIIBB", memory.read(INFO + 88, 22)) == (0xB8000, 160, 80, 25, 16, 2)  # EGA text


def test_memory_map_entries_each_preceded_by_their_size(memory):
    load_multiboot(elf32(b"\xf4"), memory)
    length, address = info_field(memory, 44), info_field(memory, 48)
    raw = memory.read(address, length)
    entries = [struct.unpack_from("<IQQI", raw, at) for at in range(0, length, 24)]
    assert entries == [(20, 0, 0x9FC00, 1), (20, 0x9FC00, 0x400, 2), (20, 0xF0000, 0x10000, 2),
                       (20, 0x100000, 7 * MB, 1)]


def test_empty_command_line_is_an_empty_string(memory):
    load_multiboot(elf32(b"\xf4"), memory)
    assert memory.read(layout.MULTIBOOT_CMDLINE_ADDR, 1) == b"\0"


def test_longest_command_line_fits_and_one_more_byte_does_not(memory):
    room = layout.BOOT_INFO_END - layout.MULTIBOOT_CMDLINE_ADDR - 1
    load_multiboot(elf32(b"\xf4"), memory, cmdline="x" * room)
    assert memory.read(layout.BOOT_INFO_END - 1, 1) == b"\0"
    with pytest.raises(ImageError, match=f"command line too long \\({room + 1} bytes, at most {room}\\): k.elf"):
        load_multiboot(elf32(b"\xf4"), memory, cmdline="x" * (room + 1), name="k.elf")
    with pytest.raises(ImageError, match="NUL byte"):
        load_multiboot(elf32(b"\xf4"), memory, cmdline="a\0b")


def test_nothing_is_written_when_the_load_fails(memory):
    with pytest.raises(ImageError, match="command line too long"):
        load_multiboot(elf32(b"\x90\xf4"), memory, cmdline="x" * 0x10000)
    assert memory.read(0x100000, 16) == bytes(16) and memory.read(INFO, 16) == bytes(16)


# ---- the header search -------------------------------------------------------------------------

def padded(offset_in_file, header=None):
    """An ELF whose multiboot header sits at `offset_in_file` (the segment's data starts at 0x54)."""
    pad = bytes(offset_in_file - 0x54)
    return elf32(b"\xf4", header=pad + (header or multiboot_header()), entry=0x100000)


def test_header_is_found_in_the_last_aligned_slot_of_the_first_8k():
    assert find_header(padded(8192 - 12), "k.elf").offset == 8192 - 12
    assert find_header(padded(8192 - 8), "k.elf") is None             # would end past 8 KiB


def test_header_must_be_32_bit_aligned():
    assert find_header(padded(0x56), "k.elf") is None


def test_a_valid_header_wins_over_an_earlier_bad_one():
    image = padded(0x54, multiboot_header(checksum=0) + multiboot_header(flags=0x2))
    header = find_header(image, "k.elf")
    assert (header.offset, header.flags) == (0x60, 0x2)


def test_requirements_beyond_bits_0_to_2_are_refused(memory):
    with pytest.raises(ImageError, match=r"requires features vmm does not provide \(flags 0x8\): k.elf"):
        load_multiboot(elf32(b"\xf4", header=multiboot_header(flags=0x8 | 0x3)), memory, name="k.elf")


# ---- the a.out kludge --------------------------------------------------------------------------

def kludge_header(load, code_len, bss=0, entry_offset=32, header_offset=0):
    """A flag-16 header at `load + header_offset` describing header + code (+ bss) at `load`."""
    end = load + header_offset + 32 + code_len
    return multiboot_header(flags=0x10003, addresses=(load + header_offset, load, end, end + bss if bss else 0,
                                                      load + entry_offset))


def test_aout_kludge_addresses_override_the_elf_segments(memory):
    code = b"\x90\x90\xf4"
    image = elf32(code, load=0x100000, header=kludge_header(0x300000, len(code), bss=0x100))
    memory.write(0x300000 + 32 + 3, b"\xAA" * 0x100)
    boot = load_multiboot(image, memory)
    assert boot.entry == 0x300020 and boot.loaded == [(0x300000, 0x300000 + 35 + 0x100)]
    assert memory.read(0x300020, 3) == code and memory.read(0x300023, 0x100) == bytes(0x100)
    assert memory.read(0x100000, 16) == bytes(16)                       # the ELF segment was ignored


def test_aout_kludge_loads_a_raw_binary_to_the_end_of_the_file(memory):
    code = b"\x90" * 10 + b"\xf4"
    header = multiboot_header(flags=0x10000, addresses=(0x100000, 0x100000, 0, 0, 0x100020))
    boot = load_multiboot(header + code, memory, name="raw.bin")
    assert memory.read(0x100000, 32 + len(code)) == header + code and boot.entry == 0x100020
    assert boot.regs["eax"] == BOOT_MAGIC


def test_aout_kludge_header_need_not_start_the_loaded_image(memory):
    image = bytes(64) + kludge_header(0x100000, 4, header_offset=64, entry_offset=0) + b"\x90\x90\x90\xf4"
    boot = load_multiboot(image, memory)
    assert boot.loaded == [(0x100000, 0x100000 + 64 + 32 + 4)] and memory.read(0x100060, 4) == b"\x90\x90\x90\xf4"


@pytest.mark.parametrize("addresses, message", [
    ((0x100000, 0x100010, 0, 0, 0x100010), "load_addr 0x100010 > header_addr 0x100000"),
    ((0x100010, 0x100000, 0, 0, 0x100010), "load_addr 0x100000 lies before the start of the file"),
    ((0x100000, 0x100000, 0xFFFF0, 0, 0x100000), "load_end_addr 0xffff0 < load_addr 0x100000"),
    ((0x100000, 0x100000, 0x100100, 0, 0x100000), "truncated file: load_end_addr needs file bytes up to 0x100"),
    ((0x100000, 0x100000, 0, 0x100010, 0x100000), "bss_end_addr 0x100010 < the end of the loaded data 0x100021"),
    ((0x100000, 0x100000, 0, 0, 0x200000), "entry_addr 0x200000 is outside the loaded image 0x100000-0x100021"),
])
def test_inconsistent_aout_kludge_fields_are_refused(memory, addresses, message):
    image = multiboot_header(flags=0x10000, addresses=addresses) + b"\xf4"
    with pytest.raises(ImageError) as error:
        load_multiboot(image, memory, name="raw.bin")
    assert message in str(error.value) and str(error.value).endswith(": raw.bin")


def test_aout_kludge_header_cut_short_by_the_end_of_the_file(memory):
    with pytest.raises(ImageError, match="truncated file: the multiboot header's address fields"):
        load_multiboot(multiboot_header(flags=0x10000, addresses=(0x100000, 0x100000)), memory)


# ---- refusals ----------------------------------------------------------------------------------

REFUSALS = [
    (b"", "empty file"),
    (b"MZ\x90\x00" + bytes(100), "not an ELF file"),
    (elf32(b"\xf4", multiboot=False), "no multiboot header (magic 0x1BADB002) in the first 8 KiB"),
    (elf32(b"\xf4", header=multiboot_header(checksum=0)), "bad multiboot checksum (magic + flags + checksum != 0) "
                                                          "in the header at file offset 0x54"),
    (elf32(b"\xf4", cls=2), "64-bit ELF"),
    (elf32(b"\xf4", machine=62), "not i386"),
    (elf32(b"\xf4" * 64)[:-10], "truncated file"),
    (elf32(b"\xf4", load=0x7FFFF0, bss=0x1000), "segment 0 (0x7ffff0-0x800ffd) does not fit in the RAM available "
                                                "to the guest (0x0-0x9fc00, 0x100000-0x800000)"),
    (elf32(b"\xf4", load=0xB8000), "segment 0 (0xb8000-0xb800d) does not fit in the RAM available"),
    (elf32(b"\xf4", load=0x9F000, bss=0x1000), "segment 0 (0x9f000-0xa000d) does not fit"),
    (elf32(b"\xf4", load=0x8000, bss=0x1000), "segment 0 (0x8000-0x900d) overlaps the boot information area "
                                              "(0x9000-0x10000)"),
    (elf32(b"\xf4", load=0xFFF0), "overlaps the boot information area"),
    (elf32(b"\xf4", entry=0x200000), "the entry point 0x200000 is not inside any loadable segment"),
]


@pytest.mark.parametrize("image, message", REFUSALS, ids=[message[:40] for _, message in REFUSALS])
def test_bad_images_give_one_clear_error(memory, image, message):
    with pytest.raises(ImageError) as error:
        load_multiboot(image, memory, name="guest.elf")
    text = str(error.value)
    assert message in text and text.startswith("image error: ") and text.endswith(": guest.elf")
    assert "\n" not in text


def test_ram_too_small_for_the_boot_information():
    with pytest.raises(ImageError, match=r"guest RAM \(0x8000 bytes\) ends below the end of the boot information "
                                         r"area \(0x10000\): k.elf"):
        load_multiboot(elf32(b"\xf4", load=0x1000), PhysicalMemory(0x8000), name="k.elf")


def test_segments_just_outside_the_boot_information_area_load(memory):
    assert load_multiboot(elf32(b"\xf4", load=0x10000, entry=0x10000), memory).loaded[0][0] == 0x10000
    below = elf32(b"\xf4", load=0x9000 - 13, entry=0x9000 - 13)                       # header + hlt end at 0x9000
    assert load_multiboot(below, memory).loaded == [(0x9000 - 13, 0x9000)]


# ---- a kernel from the real toolchain ---------------------------------------------------------

KERNEL_S = """
    .section .multiboot, "a"
    .align 4
    .long 0x1BADB002, 0x00000003, -(0x1BADB002 + 0x00000003)
    .text
    .globl _start
_start:
    movl $message, %esi
    hlt
    .data
message:
    .asciz "from .data"
    .bss
scratch:
    .space 0x2000
"""

KERNEL_LD = """
ENTRY(_start)
SECTIONS {
    . = 0xC0100000;
    .text : AT(0x100000) { *(.multiboot) *(.text) }
    .data ALIGN(0x1000) : AT(ADDR(.data) - 0xC0000000) { *(.data) }
    .bss : AT(ADDR(.bss) - 0xC0000000) { *(.bss) }
    /DISCARD/ : { *(.note*) *(.comment) }
}
"""


def test_gcc_built_higher_half_kernel(tmp_path, memory):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is required: apt-get install gcc-multilib (.ci/run installs it)")
    (tmp_path / "k.S").write_text(KERNEL_S)
    (tmp_path / "k.ld").write_text(KERNEL_LD)
    kernel = tmp_path / "k.elf"
    subprocess.run([gcc, "-m32", "-nostdlib", "-static", "-Wl,--build-id=none", "-Wl,-T," + str(tmp_path / "k.ld"),
                    "-o", kernel, tmp_path / "k.S"], check=True, capture_output=True)
    memory.write(0x101000, b"\xAA" * 0x3000)
    boot = load_multiboot(kernel.read_bytes(), memory, name=str(kernel))
    assert boot.entry == 0x10000C                                      # _start, translated to physical
    assert memory.read(0x10000C, 5) == b"\xbe" + struct.pack("<I", 0xC0101000)   # movl $message, %esi
    assert memory.read(0x101000, 11) == b"from .data\0"
    bss_start = 0x101000 + 11
    bss_end = max(end for _, end in boot.loaded)
    assert bss_end >= bss_start + 0x2000 and memory.read(bss_start, bss_end - bss_start) == bytes(bss_end - bss_start)
