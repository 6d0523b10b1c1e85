"""Ready-made guests fetched from a distribution and cached: `vmm guest fetch NAME`.

Each guest is a kernel and an initramfs built from a distribution's own packages, cached under
the user's cache directory (vmm/guests/cache.py).  Today there is one, `debian-i386`
(vmm/guests/debian.py): Debian 12's i386 kernel and a busybox initramfs.

Example:
    from vmm.guests import debian
    guest = debian.cached() or debian.fetch()
    print(guest.kernel, guest.initrd, guest.versions)
"""

from dataclasses import dataclass
from pathlib import Path

@dataclass(frozen=True)
class Guest:
    """A fetched guest: its kernel and initramfs files, the packages they came from
    (name -> version) and the kernel's release (what `uname -r` prints in the guest)."""

    kernel: Path
    initrd: Path
    versions: dict
    release: str
