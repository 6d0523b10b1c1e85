"""The `debian-i386` guest: Debian 12's i386 kernel (the package linux-image-686 depends on)
and an initramfs around busybox-static, both from Debian's own packages.

`fetch()` adds the i386 architecture to dpkg, updates apt's lists (as root), downloads the
two packages with apt-get (Debian's configured mirrors are the only network access), unpacks
them with dpkg-deb in a temporary directory, and caches the kernel and the initramfs built
by vmm/guests/initramfs.py with a manifest of the package versions (vmm/guests/cache.py).
With the cache present and current it returns at once.  Debian 12 is the last release with
an i386 kernel.

Example:
    guest = fetch()                          # or cached(), None if not fetched yet
    print(guest.release, guest.versions)     # 6.1.0-50-686 {'linux-image-6.1.0-50-686': ...}
    # vmm run --kernel {guest.kernel} --initrd {guest.initrd} --append console=ttyS0
"""

import fcntl
import tempfile
from pathlib import Path

from ..errors import GuestFetchError
from . import Guest, apt, cache, initramfs

NAME = "debian-i386"
ARCH = "i386"
KERNEL_META = "linux-image-686"
BUSYBOX = "busybox-static"
KERNEL_FILE, INITRD_FILE = "vmlinuz", "initramfs.cpio.gz"
LOCK = Path(tempfile.gettempdir(), "vmm-guest-fetch.lock")     # one apt user at a time, machine-wide


def cached():
    """The cached guest, or None when it is absent, damaged or built by an older recipe."""
    manifest = cache.load(cache.guest_dir(NAME))
    if manifest is None or manifest.get("initramfs_recipe") != initramfs.recipe():
        return None
    return _guest(manifest)


def _guest(manifest):
    directory = cache.guest_dir(NAME)
    return Guest(kernel=directory / KERNEL_FILE, initrd=directory / INITRD_FILE,
                 versions=manifest["packages"], release=manifest["release"])


def fetch(force=False, progress=lambda message: None):
    """The guest, fetched and cached unless it is cached already (or `force`);
    `progress(message)` hears each step.  Raises GuestFetchError."""
    guest = None if force else cached()
    if guest is not None:
        return guest
    apt.require_root(f"vmm guest fetch {NAME}")
    with tempfile.TemporaryDirectory(prefix="vmm-guest-") as temporary:
        root = Path(temporary) / "root"
        versions = {}
        for deb, fields in _download(Path(temporary) / "debs", progress):
            versions[fields["Package"]] = fields["Version"]
            apt.extract(deb, root)
        kernel = _one(root, "boot/vmlinuz-*")
        busybox = _one(root, "bin/busybox", "usr/bin/busybox")
        progress(f"building the initramfs around {busybox.relative_to(root)}")
        files = {KERNEL_FILE: kernel.read_bytes(), INITRD_FILE: initramfs.build(busybox.read_bytes())}
    return _guest(cache.store(cache.guest_dir(NAME), files, {
        "guest": NAME, "packages": versions, "release": kernel.name.removeprefix("vmlinuz-"),
        "initramfs_recipe": initramfs.recipe()}))


def _download(directory, progress):
    """The two .deb files with their control fields, checked to be the packages asked for.
    Concurrent fetches (two test workers, two shells) take turns: apt and dpkg each hold a
    lock of their own and would fail the second one instead of waiting."""
    with open(LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _download_locked(directory, progress)


def _download_locked(directory, progress):
    progress(f"dpkg --add-architecture {ARCH}")
    apt.add_architecture(ARCH)
    progress("apt-get update")
    update_failure = apt.update()
    if update_failure:
        progress(f"carrying on with the lists there are: {update_failure}")
    try:
        kernel = apt.dependency(f"{KERNEL_META}:{ARCH}", "linux-image-")
        progress(f"apt-get download {kernel}:{ARCH} {BUSYBOX}:{ARCH}")
        debs = apt.download([f"{kernel}:{ARCH}", f"{BUSYBOX}:{ARCH}"], directory)
    except GuestFetchError as error:
        after = f" (after apt-get update failed: {update_failure})" if update_failure else ""
        raise GuestFetchError(error.args[0] + after) from None
    debs = [(deb, apt.control(deb)) for deb in debs]
    got = sorted((fields.get("Package"), fields.get("Architecture")) for _, fields in debs)
    if got != sorted([(kernel, ARCH), (BUSYBOX, ARCH)]):
        raise GuestFetchError(f"apt-get download gave {got}, not {kernel} and {BUSYBOX} for {ARCH}")
    return debs


def _one(root, *patterns):
    """The one file matching the first of `patterns` that matches any in the unpacked tree."""
    for pattern in patterns:
        found = sorted(root.glob(pattern))
        if len(found) == 1:
            return found[0]
        if found:
            raise GuestFetchError(f"more than one {pattern} in the packages: {[p.name for p in found]}")
    raise GuestFetchError(f"no {' or '.join(patterns)} in the packages")
