"""vmm/devices/post.py: the POST-code port keeps the last byte written."""

from vmm.devices import layout
from vmm.devices.bus import Bus
from vmm.devices.post import PostPort


def test_last_code_is_kept_and_reads_are_all_ones():
    post = PostPort()
    assert post.last_code is None
    post.write(0, 1, 0x42)
    post.write(0, 1, 0x55)
    assert post.last_code == 0x55 and post.read(0, 1) == 0xFF


def test_a_wide_write_latches_its_low_byte():
    post = PostPort()
    post.write(0, 2, 0xAB12)
    assert post.last_code == 0x12


def test_on_the_io_bus_at_0x80():
    post = PostPort()
    bus = Bus("io")
    bus.register(layout.POST_PORT, 1, post)
    bus.write(0x80, 1, 0x7E)
    assert layout.POST_PORT == 0x80 and post.last_code == 0x7E
