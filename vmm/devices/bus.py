"""The one bus protocol every device speaks: read(offset, size) / write(offset, size, value).

A `Bus` maps address ranges (I/O ports or MMIO physical addresses) to devices.
An access to an unmapped port reads all ones and writes are dropped, as on a
PC's ISA bus.  The first access to each unmapped address is reported once to the
bus's `on_unclaimed(bus, addr, size, value)` (value None for a read); the default
logs it on the "vmm.devices" logger at INFO, never on the guest's console, so a
verbose option only has to turn that logger on (or set its own callback).

Example:
    bus = Bus("io")
    bus.register(0x3F8, 8, uart)
    bus.write(0x3F8, 1, ord("A"))      # uart.write(0, 1, 0x41)
    bus.read(0x3FD, 1)                 # uart.read(5, 1)
"""

import bisect
import logging

log = logging.getLogger("vmm.devices")


def log_unclaimed(bus, addr, size, value):
    """The default `on_unclaimed`: one INFO line per unmapped address."""
    access = "read" if value is None else f"write of {value:#x} to"
    log.info("%s: %s unclaimed %#x (%d byte%s): reads all ones, writes ignored",
             bus.name, access, addr, size, "" if size == 1 else "s")


class Device:
    """Base class: a device answers reads and writes at offsets inside its range."""

    def read(self, offset, size):
        return (1 << (8 * size)) - 1

    def write(self, offset, size, value):
        pass


class Bus:
    """Address ranges -> devices; lookups are a bisect over sorted range starts."""

    def __init__(self, name, on_unclaimed=log_unclaimed):
        self.name = name
        self.on_unclaimed = on_unclaimed
        self._reported = set()     # unmapped addresses already given to on_unclaimed
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
            self._unclaimed(addr, size, None)
            return (1 << (8 * size)) - 1
        return device.read(offset, size) & ((1 << (8 * size)) - 1)

    def write(self, addr, size, value):
        device, offset = self.find(addr)
        value &= (1 << (8 * size)) - 1
        if device is None:
            self._unclaimed(addr, size, value)
        else:
            device.write(offset, size, value)

    def _unclaimed(self, addr, size, value):
        if addr not in self._reported:
            self._reported.add(addr)
            if self.on_unclaimed is not None:
                self.on_unclaimed(self, addr, size, value)
