"""isa-debug-exit (QEMU): a guest write of v to the port ends the run with exit code (v << 1) | 1.

Example:
    dev = DebugExit(on_exit=lambda code: print("exit", code))
    dev.write(0, 1, 0)          # prints "exit 1"
"""

from .bus import Device


class DebugExit(Device):
    def __init__(self, on_exit):
        self.on_exit = on_exit

    def write(self, offset, size, value):
        self.on_exit((value << 1) | 1)
