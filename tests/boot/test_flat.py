"""vmm/boot/flat.py: raw bytes at an address, the flat protected-mode start, and what does not fit."""

import pytest

from vmm.boot.flat import load_flat
from vmm.errors import ImageError
from vmm.memory import PhysicalMemory

MB = 1 << 20


@pytest.fixture
def memory():
    return PhysicalMemory(2 * MB)


def test_bytes_land_at_the_address_and_start_there(memory):
    code = b"\xb8\x01\x00\x00\x00\xf4"                     # mov eax, 1; hlt
    boot = load_flat(code, memory, 0x1000, name="code.bin")
    assert memory.read(0x1000, len(code)) == code and memory.read(0x1000 + len(code), 4) == bytes(4)
    assert (boot.entry, boot.loaded, boot.name) == (0x1000, [(0x1000, 0x1006)], "code.bin")


def test_entry_can_be_given(memory):
    assert load_flat(b"\x90" * 16, memory, 0x7000, entry=0x7008).entry == 0x7008


def test_same_flat_protected_mode_state_and_no_registers(memory):
    boot = load_flat(b"\xf4", memory, 0x1000)
    assert boot.cr0 & 1 and not boot.cr0 & 0x80000000 and boot.eflags == 0x2 and boot.flat_segments
    assert boot.regs == {}


def test_an_image_ending_exactly_at_the_end_of_ram_fits(memory):
    load_flat(b"\xf4" * 16, memory, 2 * MB - 16)
    assert memory.read(2 * MB - 1, 1) == b"\xf4"


@pytest.mark.parametrize("image, address, message", [
    (b"", 0x1000, "empty file: code.bin"),
    (b"\xf4" * 17, 2 * MB - 16, "the image (0x1ffff0-0x200001) does not fit in guest RAM (0-0x200000): code.bin"),
    (b"\xf4", 0x40000000, "the image (0x40000000-0x40000001) does not fit in guest RAM"),
    (b"\xf4", -1, "does not fit in guest RAM"),
])
def test_refusals(memory, image, address, message):
    with pytest.raises(ImageError) as error:
        load_flat(image, memory, address, name="code.bin")
    assert message in str(error.value)
