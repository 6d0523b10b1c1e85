"""Loading guest images: Linux bzImages, multiboot kernels (ELF via LIEF, or a.out kludge)
and flat binaries.

`load_image` reads a file and picks the loader: a flat binary when a load address is given,
the Linux boot protocol for a bzImage (with an optional initrd file), otherwise a multiboot
kernel.  Every failure is one ImageError line naming the file.

Example:
    boot = load_image("examples/images/hello.elf", memory, cmdline="iters=10")
    boot = load_image("vmlinuz", memory, cmdline="console=ttyS0", initrd="initrd.gz")
    boot = load_image("code.bin", memory, flat_address=0x100000)
    state.eip = boot.entry
"""

from pathlib import Path

from ..errors import ImageError
from .elf import is_elf
from .flat import load_flat
from .linux import is_bzimage, load_linux
from .multiboot import load_multiboot, loads_by_address
from .state import BootState

__all__ = ["BootState", "load_image", "load_flat", "load_linux", "load_multiboot"]


def load_image(path, memory, cmdline="", flat_address=None, initrd=None):
    """Load the file at `path`: flat at `flat_address` if given, a bzImage with the `initrd`
    file, else as multiboot with `cmdline`."""
    name = str(path)
    image = _read(path, "the image")
    if flat_address is not None:
        return load_flat(image, memory, flat_address, name=name)
    if is_bzimage(image):
        ramdisk = _read(initrd, "the initrd") if initrd is not None else b""
        return load_linux(image, memory, initrd=ramdisk, cmdline=cmdline, name=name)
    if initrd is not None:
        raise ImageError(f"an initrd is for a Linux bzImage, and this is not one: {name}")
    if image and not is_elf(image) and not loads_by_address(image, name):
        raise ImageError(f"not an ELF file; to run a flat binary, give its load address "
                         f"(--load-address, flat_address=): {name}")
    return load_multiboot(image, memory, cmdline, name=name)


def _read(path, what):
    name = str(path)
    if Path(path).exists() and not Path(path).is_file() and not Path(path).is_dir():
        raise ImageError(f"not a regular file (a device or a pipe would be read without end): {name}")
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ImageError(f"cannot read {what} ({error.strerror or error}): {name}") from None
