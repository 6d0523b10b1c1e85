"""isa-debug-exit (QEMU): a guest write of v to the port ends the run with exit code (v << 1) | 1.

The code is always odd, so a test harness can tell a guest's deliberate exit from the VMM's own
exit status 0; QEMU's convention, so guests written for `-device isa-debug-exit` run unchanged.
Reads return all ones (the Device default), as on QEMU.

Example:
    dev = DebugExit(on_exit=lambda code: print("exit", code))
    dev.write(0, 1, 0x10)          # prints "exit 33"
"""

from .bus import Device


class DebugExit(Device):
    """Calls `on_exit((value << 1) | 1)` for every write, whatever its size."""

    def __init__(self, on_exit):
        self.on_exit = on_exit

    def write(self, offset, size, value):
        self.on_exit((value << 1) | 1)
