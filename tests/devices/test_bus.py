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


def test_unclaimed_accesses_are_reported_once_per_address():
    seen = []
    bus = Bus("io", on_unclaimed=lambda b, addr, size, value: seen.append((b.name, addr, size, value)))
    bus.register(0x3F8, 8, Recorder())
    for _ in range(2):
        bus.write(0x2F8, 1, 0x41)
        assert bus.read(0x2F8, 1) == 0xFF and bus.read(0x2F9, 2) == 0xFFFF
    bus.read(0x3F8, 1)
    assert seen == [("io", 0x2F8, 1, 0x41), ("io", 0x2F9, 2, None)]


def test_by_default_unclaimed_accesses_go_to_the_vmm_devices_logger(caplog):
    bus = Bus("io")
    with caplog.at_level("INFO", logger="vmm.devices"):
        bus.read(0x2F8, 1)
        bus.read(0x2F8, 1)
        bus.write(0x2F9, 2, 0x1234)
    assert [r.getMessage() for r in caplog.records] == [
        "io: read unclaimed 0x2f8 (1 byte): reads all ones, writes ignored",
        "io: write of 0x1234 to unclaimed 0x2f9 (2 bytes): reads all ones, writes ignored"]
