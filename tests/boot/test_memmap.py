"""vmm/boot/memmap.py: the PC memory map every boot protocol hands the guest."""

from vmm.boot.memmap import AVAILABLE, RESERVED, available, pc_memory_map

MB = 1 << 20


def regions(ram_size):
    return [(r.base, r.length, r.kind) for r in pc_memory_map(ram_size)]


def test_a_128_mib_pc():
    assert regions(128 * MB) == [(0, 0x9FC00, AVAILABLE), (0x9FC00, 0x400, RESERVED),
                                 (0xF0000, 0x10000, RESERVED), (0x100000, 127 * MB, AVAILABLE)]


def test_small_ram_is_clipped():
    assert regions(512 << 10) == [(0, 512 << 10, AVAILABLE)]
    assert regions(0x9FE00) == [(0, 0x9FC00, AVAILABLE), (0x9FC00, 0x200, RESERVED)]
    assert regions(MB)[-1] == (0xF0000, 0x10000, RESERVED)            # no upper memory at all


def test_available_regions_only():
    assert [(r.base, r.end) for r in available(4 * MB)] == [(0, 0x9FC00), (0x100000, 4 * MB)]
