"""vmm: a binary-translation virtual machine monitor for 32-bit x86 guests.

Example:
    from vmm import Machine
    m = Machine(memory_mb=32)
    m.load("examples/images/hello.elf")
    print(m.run().summary())
"""

from .errors import GuestFault, GuestStop, ImageError, MemoryAccessError, VmmError
from .machine import Machine, RunResult

__all__ = ["Machine", "RunResult", "VmmError", "ImageError", "MemoryAccessError", "GuestStop", "GuestFault"]
