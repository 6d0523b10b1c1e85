"""vmm/devices/bus.py: ranges route to devices; unmapped ports read all ones."""

import pytest

from vmm.devices.bus import Bus, Device


class Recorder(Device):
    def __init__(self):
        self.seen = []

    def write(self, offset, size, value):
        self.seen.append((offset, size, value))


def test_bus_routes_by_range_and_unmapped_reads_all_ones():
    bus, dev = Bus("io"), Recorder()
    bus.register(0x3F8, 8, dev)
    bus.write(0x3FD, 1, 0x1FF)
    bus.write(0x400, 1, 0x00)
    assert dev.seen == [(5, 1, 0xFF)] and bus.read(0x500, 2) == 0xFFFF and bus.read(0x3F8, 1) == 0xFF


def test_overlapping_ranges_are_refused():
    bus = Bus("io")
    bus.register(0x3F8, 8, Recorder())
    with pytest.raises(ValueError, match="overlaps"):
        bus.register(0x3FF, 2, Recorder())
