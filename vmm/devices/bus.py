"""The one bus protocol every device speaks: read(offset, size) / write(offset, size, value).

A `Bus` maps address ranges (I/O ports or MMIO physical addresses) to devices.
An access to an unmapped port reads all ones and writes are dropped, as on a
PC's ISA bus.

Example:
    bus = Bus("io")
    bus.register(0x3F8, 8, uart)
    bus.write(0x3F8, 1, ord("A"))      # uart.write(0, 1, 0x41)
    bus.read(0x3FD, 1)                 # uart.read(5, 1)
"""

import bisect


class Device:
    """Base class: a device answers reads and writes at offsets inside its range."""

    def read(self, offset, size):
        return (1 << (8 * size)) - 1

    def write(self, offset, size, value):
        pass


class Bus:
    """Address ranges -> devices; lookups are a bisect over sorted range starts."""

    def __init__(self, name):
        self.name = name
        self._starts = []
        self._ranges = []          # (start, end, device), sorted by start

    def register(self, base, length, device):
        """Map [base, base+length) to `device`; overlapping ranges are an error."""
        end = base + length
        for start, stop, _ in self._ranges:
            if base < stop and start < end:
                raise ValueError(f"{self.name} range {base:#x}+{length:#x} overlaps {start:#x}-{stop:#x}")
        i = bisect.bisect(self._starts, base)
        self._starts.insert(i, base)
        self._ranges.insert(i, (base, end, device))

    def find(self, addr):
        """Return (device, offset) for `addr`, or (None, 0) if nothing is mapped there."""
        i = bisect.bisect(self._starts, addr) - 1
        if i >= 0:
            start, end, device = self._ranges[i]
            if addr < end:
                return device, addr - start
        return None, 0

    def read(self, addr, size):
        device, offset = self.find(addr)
        if device is None:
            return (1 << (8 * size)) - 1
        return device.read(offset, size) & ((1 << (8 * size)) - 1)

    def write(self, addr, size, value):
        device, offset = self.find(addr)
        if device is not None:
            device.write(offset, size, value & ((1 << (8 * size)) - 1))
