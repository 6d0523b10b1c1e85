"""PCI configuration mechanism #1 with only the host bridge behind it, and the reset control
register 0xCF9.

CONFIG_ADDRESS (a dword at 0xCF8) reads back what was written, as on a real host bridge.
CONFIG_DATA (0xCFC-0xCFF) reads the host bridge's configuration header at bus 0, device 0,
function 0: an Intel 440FX (8086:1237, class 0x0600, revision 2, as QEMU's PC has), so a
kernel finds a sane mechanism #1 (Linux's pci_sanity_check looks for a host bridge; without
one it says "PCI: Fatal: No config space access function found").  Every other register of
it reads 0 and every other device, all ones (vendor ID 0xFFFF: absent); writes are dropped.
Byte and word accesses to 0xCF8-0xCFB are not configuration cycles: they read all ones,
except a byte at 0xCF9, the reset control register, where a write with bit 2 set resets the
machine (`reset()`; Linux's reboot=pci writes 0x02 then 0x06).

Example:
    pci = PciHost(reset=lambda: print("reset"))
    bus.register(0xCF8, 8, pci)
    pci.write(0, 4, 0x80000000); pci.read(4, 4)     # -> 0x12378086: the 440FX host bridge
    pci.write(0, 4, 0x80000800); pci.read(4, 4)     # -> 0xFFFFFFFF: no device 1 on bus 0
"""

from .bus import Device

ADDRESS_MASK = 0x80FFFFFC        # enable, bus, device, function, dword register
ENABLE, REGISTER = 0x80000000, 0xFC
# The host bridge's header by dword register: IDs, command/status, class/revision.
HOST_BRIDGE = {0x00: 0x1237 << 16 | 0x8086, 0x04: 0, 0x08: 0x060000 << 8 | 0x02}
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
        ones = (1 << (8 * size)) - 1
        if offset < 4 or self.address & ~REGISTER != ENABLE:       # not bus 0, device 0, function 0
            return ones
        shift = 8 * (offset - 4)
        return HOST_BRIDGE.get(self.address & REGISTER, 0) >> shift & ones

    def write(self, offset, size, value):
        if offset == 0 and size == 4:
            self.address = value & ADDRESS_MASK
        elif offset == RESET_CONTROL and size == 1:
            self.reset_control = value & RCR_SYS_RESET
            if value & RCR_RESET_CPU:
                self.reset()
