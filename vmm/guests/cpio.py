"""A writer for the "newc" cpio format, the one the Linux kernel unpacks as an initramfs.

Each member is a 110-byte ASCII header (the magic `070701` and thirteen 8-digit hex fields),
the NUL-terminated name and the data, name and data each padded to a multiple of four bytes;
the archive ends with a member named `TRAILER!!!`.  Members are written in the order given:
the kernel does not create missing parent directories, so a directory comes before what it
holds.  Owners are root and times zero, so the same members give the same bytes.

Example:
    archive = newc([directory("bin"), file("bin/hello", b"#!/bin/sh\\necho hi\\n", 0o755),
                    symlink("bin/hi", "hello"), chardev("console", 5, 1)])
"""

import stat
from dataclasses import dataclass

MAGIC = b"070701"
TRAILER = "TRAILER!!!"


@dataclass(frozen=True)
class Member:
    """One archive member: its path (relative, no leading slash), st_mode, contents (a
    symlink's contents are its target) and, for a device node, its major and minor number."""

    name: str
    mode: int
    data: bytes = b""
    rdev: tuple = (0, 0)


def directory(name, perm=0o755):
    return Member(name, stat.S_IFDIR | perm)


def file(name, data, perm=0o644):
    return Member(name, stat.S_IFREG | perm, data)


def symlink(name, target):
    return Member(name, stat.S_IFLNK | 0o777, target.encode())


def chardev(name, major, minor, perm=0o600):
    return Member(name, stat.S_IFCHR | perm, rdev=(major, minor))


def _pad(data):
    return data + b"\0" * (-len(data) % 4)


def _header(ino, member, name):
    nlink = 2 if stat.S_ISDIR(member.mode) else 1
    fields = (ino, member.mode, 0, 0, nlink, 0, len(member.data), 0, 0, *member.rdev, len(name) + 1, 0)
    return MAGIC + b"".join(b"%08x" % value for value in fields)


def newc(members):
    """The archive holding `members` (an iterable of Member), as bytes."""
    out = []
    for ino, member in enumerate([*members, Member(TRAILER, 0)], start=1):
        name = member.name.encode()
        out.append(_pad(_header(ino, member, name) + name + b"\0"))
        out.append(_pad(member.data))
    return b"".join(out)
