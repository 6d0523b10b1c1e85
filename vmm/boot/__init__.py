"""Loading guest images: multiboot ELF kernels (LIEF) and flat binaries.

Example:
    boot = load_image("examples/images/hello.elf", memory, cmdline="")
"""

from ..errors import ImageError
from .flat import load_flat
from .multiboot import load_multiboot
from .state import BootState

__all__ = ["BootState", "load_image", "load_flat", "load_multiboot"]


def load_image(path, memory, cmdline="", flat_address=None):
    """Read `path` and load it: as a flat binary when `flat_address` is given, else as ELF."""
    try:
        with open(path, "rb") as f:
            image = f.read()
    except OSError as error:
        raise ImageError(f"{path}: {error.strerror}") from None
    if flat_address is not None:
        return load_flat(image, memory, flat_address, name=str(path))
    if image[:4] != b"\x7fELF":
        raise ImageError(f"{path}: not an ELF file (for a flat binary, give --load-address)")
    return load_multiboot(image, memory, cmdline, name=str(path))
