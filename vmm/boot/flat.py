"""Flat binary loader: raw bytes at a physical address, started in flat protected mode.

There is no header to read and no boot protocol: the bytes land at `address` and EIP starts
at `entry` (default: the first byte), with the same flat 32-bit state a multiboot kernel gets
and no registers defined.

Example:
    boot = load_flat(code, memory, address=0x100000)
    boot.entry, boot.loaded        # 0x100000, [(0x100000, 0x100000 + len(code))]
"""

from ..errors import ImageError
from .ram import place
from .state import BootState


def load_flat(image, memory, address, entry=None, name="image"):
    """Copy `image` (bytes) to guest physical `address`; ImageError if it is empty or does not fit."""
    if not image:
        raise ImageError(f"empty file: {name}")
    place(memory, address, image, len(image), "the image", name)
    return BootState(entry=address if entry is None else entry, name=name,
                     loaded=[(address, address + len(image))])
