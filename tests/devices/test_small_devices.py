"""vmm/devices: isa-debug-exit, the POST port, the VGA text reader, and the bus."""

from vmm.devices.bus import Bus, Device
from vmm.devices.debugexit import DebugExit
from vmm.devices.post import PostPort
from vmm.devices.vga import VgaText
from vmm.memory import PhysicalMemory


def test_debug_exit_follows_qemu_convention():
    codes = []
    DebugExit(codes.append).write(0, 1, 0x10)
    assert codes == [0x21]


def test_post_port_keeps_last_code():
    post = PostPort()
    post.write(0, 1, 0x42)
    assert post.last_code == 0x42 and post.read(0, 1) == 0xFF


def test_vga_text_reader():
    memory = PhysicalMemory(1 << 20)
    for n, ch in enumerate(b"Hi"):
        memory.write(0xB8000 + 160 + 2 * n, bytes([ch, 0x07]))
    assert VgaText(memory).lines()[1] == "Hi" and VgaText(memory).text() == "Hi"


def test_bus_routes_by_range_and_unmapped_reads_all_ones():
    class Recorder(Device):
        def __init__(self):
            self.seen = []

        def write(self, offset, size, value):
            self.seen.append((offset, size, value))
    bus, dev = Bus("io"), Recorder()
    bus.register(0x3F8, 8, dev)
    bus.write(0x3FD, 1, 0x1FF)
    assert dev.seen == [(5, 1, 0xFF)] and bus.read(0x500, 2) == 0xFFFF
