"""Port 0x80, the BIOS POST-code port: kernels write it as an I/O delay; the last code is kept.

Example:
    post = PostPort(); post.write(0, 1, 0x42); post.last_code     # -> 0x42
"""

from .bus import Device


class PostPort(Device):
    """Remembers the last byte written (`last_code`, None until one is); reads return all ones."""

    def __init__(self):
        self.last_code = None

    def write(self, offset, size, value):
        self.last_code = value & 0xFF       # a POST card latches one byte; wider writes spill into 0x81
