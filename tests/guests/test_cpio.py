"""vmm/guests/cpio.py: newc archives read back by a reader of our own and by GNU cpio."""

import os
import shutil
import stat
import subprocess

import pytest

from tests.guests.newc import read_newc
from vmm.guests import cpio

MEMBERS = [cpio.directory("bin"), cpio.file("bin/tool", b"#!/bin/sh\necho hi\n", 0o755),
           cpio.file("bin/empty", b""), cpio.file("odd", b"x" * 5), cpio.symlink("bin/alias", "tool"),
           cpio.directory("dev"), cpio.chardev("dev/ttyS0", 4, 64)]


def test_round_trip_keeps_names_modes_data_and_devices():
    members = read_newc(cpio.newc(MEMBERS))
    assert [m["name"] for m in members] == [m.name for m in MEMBERS]
    by_name = {m["name"]: m for m in members}
    assert by_name["bin/tool"]["mode"] == stat.S_IFREG | 0o755 and by_name["bin/tool"]["data"] == b"#!/bin/sh\necho hi\n"
    assert by_name["odd"]["data"] == b"xxxxx" and by_name["bin/empty"]["filesize"] == 0
    assert stat.S_ISLNK(by_name["bin/alias"]["mode"]) and by_name["bin/alias"]["data"] == b"tool"
    assert stat.S_ISDIR(by_name["dev"]["mode"])
    tty = by_name["dev/ttyS0"]
    assert stat.S_ISCHR(tty["mode"]) and (tty["rdevmajor"], tty["rdevminor"]) == (4, 64)
    assert all(m["uid"] == m["gid"] == m["mtime"] == 0 for m in members)
    assert len({m["ino"] for m in members}) == len(members)


@pytest.mark.parametrize("length", range(9))
def test_every_name_and_data_length_stays_aligned(length):
    archive = cpio.newc([cpio.file("n" * (length + 1), b"d" * length)])
    assert len(archive) % 4 == 0
    assert read_newc(archive)[0]["data"] == b"d" * length


def test_same_members_same_bytes():
    assert cpio.newc(MEMBERS) == cpio.newc(list(MEMBERS))


@pytest.mark.skipif(shutil.which("cpio") is None, reason="GNU cpio is not installed (.ci/apt-install installs it)")
def test_gnu_cpio_lists_and_extracts_it(tmp_path):
    listing = subprocess.run(["cpio", "-tv", "--quiet"], input=cpio.newc(MEMBERS), capture_output=True,
                             check=True).stdout.decode().splitlines()
    assert [line.split()[-1] for line in listing if "->" not in line] == \
        [m.name for m in MEMBERS if not stat.S_ISLNK(m.mode)]
    assert listing[-1].startswith("crw-------") and listing[-1].split()[4:6] == ["4,", "64"]
    assert listing[4].startswith("lrwxrwxrwx") and listing[4].endswith("bin/alias -> tool")
    archive = cpio.newc([m for m in MEMBERS if not stat.S_ISCHR(m.mode)])   # mknod needs root
    subprocess.run(["cpio", "-id", "--quiet"], input=archive, cwd=tmp_path, check=True)
    assert (tmp_path / "bin/tool").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert os.access(tmp_path / "bin/tool", os.X_OK) and os.readlink(tmp_path / "bin/alias") == "tool"
    assert (tmp_path / "odd").read_bytes() == b"xxxxx"
