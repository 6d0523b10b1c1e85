"""Copying an image's pieces into guest RAM, with one clear error when a piece does not fit.

Example:
    place(memory, 0x100000, code, size=len(code) + bss, what="segment 0", name="hello.elf")
"""

from ..errors import ImageError


def place(memory, start, data, size, what, name):
    """Write `data` at `start` and zero the rest of `size` bytes (bss); ImageError if outside RAM."""
    if start < 0 or start + size > memory.size:
        raise ImageError(f"{what} ({start:#x}-{start + size:#x}) does not fit in guest RAM "
                         f"(0-{memory.size:#x}): {name}")
    memory.write(start, data)
    if size > len(data):
        memory.write(start + len(data), bytes(size - len(data)))
