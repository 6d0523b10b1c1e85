"""PCI configuration mechanism #1 with nothing behind it, and the reset control register 0xCF9.

CONFIG_ADDRESS (a dword at 0xCF8) reads back what was written, as on a real host bridge;
CONFIG_DATA (0xCFC-0xCFF) reads all ones whatever the address selects, so a bus scan finds
no device (vendor ID 0xFFFF), and writes are dropped.  Byte and word accesses to 0xCF8-0xCFB
are not configuration cycles: they read all ones, except a byte at 0xCF9, the reset
control register, where a write with bit 2 set resets the machine (`reset()`; Linux's
reboot=pci writes 0x02 then 0x06).

Example:
    pci = PciHost(reset=lambda: print("reset"))
    bus.register(0xCF8, 8, pci)
    pci.write(0, 4, 0x80000000); pci.read(4, 4)     # -> 0xFFFFFFFF: no device 0 on bus 0
"""

from .bus import Device

ADDRESS_MASK = 0x80FFFFFC        # enable, bus, device, function, dword register
RESET_CONTROL = 1                # offset of 0xCF9
RCR_SYS_RESET, RCR_RESET_CPU = 0x02, 0x04


class PciHost(Device):
    """Ports 0xCF8-0xCFF (module docstring)."""

    def __init__(self, reset):
        self.reset = reset
        self.address = 0
        self.reset_control = 0

    def read(self, offset, size):
        if offset == 0 and size == 4:
            return self.address
        if offset == RESET_CONTROL and size == 1:
            return self.reset_control
        return (1 << (8 * size)) - 1

    def write(self, offset, size, value):
        if offset == 0 and size == 4:
            self.address = value & ADDRESS_MASK
        elif offset == RESET_CONTROL and size == 1:
            self.reset_control = value & RCR_SYS_RESET
            if value & RCR_RESET_CPU:
                self.reset()
