"""vmm/devices/debugexit.py: QEMU's isa-debug-exit convention, on its port."""

import pytest

from vmm.devices import layout
from vmm.devices.bus import Bus
from vmm.devices.debugexit import DebugExit


@pytest.mark.parametrize("size, value, code", [(1, 0x00, 1), (1, 0x10, 0x21), (1, 0xFF, 0x1FF), (4, 0x1234, 0x2469)])
def test_a_write_of_v_exits_with_v_shifted_left_plus_one(size, value, code):
    codes = []
    DebugExit(codes.append).write(0, size, value)
    assert codes == [code]


def test_reads_return_all_ones_and_do_not_exit():
    codes = []
    dev = DebugExit(codes.append)
    assert (dev.read(0, 1), dev.read(0, 2)) == (0xFF, 0xFFFF) and codes == []


def test_on_the_io_bus_at_its_port():
    codes = []
    bus = Bus("io")
    bus.register(layout.DEBUG_EXIT_PORT, layout.DEBUG_EXIT_PORTS, DebugExit(codes.append))
    bus.write(0xF4, 1, 0x10)
    bus.write(0xF5, 1, 0x10)                               # the next port is not the device's
    assert layout.DEBUG_EXIT_PORT == 0xF4 and codes == [0x21]
