"""The busybox initramfs vmm boots Linux with: a gzip-compressed newc cpio archive.

It holds the static busybox as /bin/busybox with symlinks for the applets a shell session
uses, the two device nodes the kernel and the shell need before devtmpfs is mounted
(/dev/console, through which the kernel starts /init, and /dev/ttyS0), and /init: it mounts
proc, sysfs and devtmpfs, prints MARKER on a line of its own, and runs an interactive shell
on the console with job control (busybox `cttyhack` makes the console's tty the shell's
controlling terminal, so Ctrl-C reaches the shell's foreground job).  When that shell exits,
/init powers the machine off.  There is no init daemon to signal, so the interactive shell
aliases `poweroff` and `reboot` to their `-f` forms, which make the system call at once.

The archive's bytes depend only on the busybox binary and this module (no times, no owners),
so `recipe()`, the digest of an archive around a stand-in busybox, tells whether a cached
archive is current.

Example:
    Path("initramfs.cpio.gz").write_bytes(build(Path("bin/busybox").read_bytes()))
"""

import gzip
import hashlib

from . import cpio

MARKER = "VMM-INIT-READY"

APPLETS = ("sh ash cat chmod cp cut date dd df dmesg echo env false free grep gunzip gzip head "
           "hexdump kill ln ls md5sum mkdir mknod mount mv od poweroff printf ps pwd reboot rm "
           "sed seq setsid sha1sum sha256sum sleep sort stty sync tail tar tee test touch tr "
           "true umount uname uniq wc xargs yes zcat cttyhack").split()

DIRECTORIES = ("bin", "dev", "etc", "proc", "root", "sys", "tmp")

INIT = f"""#!/bin/sh
# vmm's /init (vmm/guests/initramfs.py): mount the kernel's filesystems, say so, run a shell.
export PATH=/bin HOME=/root ENV=/etc/shrc
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo {MARKER}
setsid cttyhack sh
echo "init: the shell exited; powering off"
poweroff -f
"""

SHRC = """# Read by interactive shells (ENV): no init daemon runs, so poweroff and reboot act at once.
alias poweroff='poweroff -f' reboot='reboot -f'
"""

# (path, major, minor): the console (5, 1) and the first serial port (4, 64).
DEVICES = (("dev/console", 5, 1), ("dev/ttyS0", 4, 64))


def members(busybox):
    """The archive's members, parents first, for the busybox executable's bytes."""
    yield from (cpio.directory(name) for name in DIRECTORIES)
    yield from (cpio.chardev(path, major, minor) for path, major, minor in DEVICES)
    yield cpio.file("bin/busybox", busybox, 0o755)
    yield from (cpio.symlink(f"bin/{applet}", "busybox") for applet in APPLETS)
    yield cpio.file("etc/shrc", SHRC.encode())
    yield cpio.file("init", INIT.encode(), 0o755)


def build(busybox):
    """The gzip-compressed archive (mtime 0 in the gzip header too: same input, same bytes)."""
    return gzip.compress(cpio.newc(members(busybox)), mtime=0)


def recipe():
    """A digest of how archives are built: of the archive around a stand-in busybox, so any
    change to the layout, the scripts or the cpio writer changes it."""
    return hashlib.sha256(build(b"busybox")).hexdigest()[:16]
