"""Port 0x80, the BIOS POST-code port: kernels write it as an I/O delay; the last code is kept.

Example:
    post = PostPort(); post.write(0, 1, 0x42); post.last_code     # -> 0x42
"""

from .bus import Device


class PostPort(Device):
    def __init__(self):
        self.last_code = None

    def write(self, offset, size, value):
        self.last_code = value
