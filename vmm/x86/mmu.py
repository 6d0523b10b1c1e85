"""The one MMU entry point for guest memory accesses by linear address (both engines).

Paging is off in the machines vmm runs today, so linear == physical; the
monitor refuses CR0.PG until the paging unit lands (it will live here and
nowhere else).  A physical access outside RAM goes to the MMIO bus if a
device claims it, else stops the run with MemoryAccessError: the guest can
never reach host memory outside its RAM.

Example:
    mmu = Mmu(memory, mmio_bus)
    mmu.write(0xB8000, 2, 0x0741)     # an 'A' on the VGA text screen
    mmu.read(0xB8000, 1)              # -> 0x41
"""

from ..errors import MemoryAccessError


class Mmu:
    def __init__(self, memory, mmio):
        self.memory = memory
        self.mmio = mmio
        self.ram_size = memory.size

    def read(self, linear, size):
        if linear + size <= self.ram_size:
            return self.memory.read_u(linear, size)
        return self._mmio_read(linear & 0xFFFFFFFF, size)

    def write(self, linear, size, value):
        if linear + size <= self.ram_size:
            self.memory.write_u(linear, size, value)
        else:
            self._mmio_write(linear & 0xFFFFFFFF, size, value)

    def _mmio_read(self, addr, size):
        device, offset = self.mmio.find(addr)
        if device is None:
            raise MemoryAccessError(f"read of {size} bytes at {addr:#010x}, outside guest RAM "
                                    f"({self.ram_size >> 20} MiB) and every device")
        return device.read(offset, size)

    def _mmio_write(self, addr, size, value):
        device, offset = self.mmio.find(addr)
        if device is None:
            raise MemoryAccessError(f"write of {size} bytes at {addr:#010x}, outside guest RAM "
                                    f"({self.ram_size >> 20} MiB) and every device")
        device.write(offset, size, value)
