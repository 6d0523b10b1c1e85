"""Flat binary loader: raw bytes at a physical address, started in flat protected mode.

Example:
    boot = load_flat(code, memory, address=0x100000)
"""

from ..errors import ImageError
from .state import BootState


def load_flat(image, memory, address, entry=None, name="image"):
    if not image:
        raise ImageError(f"{name}: empty file")
    if address < 0 or address + len(image) > memory.size:
        raise ImageError(f"{name}: {len(image)} bytes at {address:#x} do not fit in guest RAM ({memory.size:#x})")
    memory.write(address, image)
    return BootState(entry=address if entry is None else entry, name=name, loaded=[(address, address + len(image))])
