"""vmm/guests/initramfs.py: what the archive holds, in an order the kernel can unpack, and
an /init that a shell parses."""

import gzip
import stat
import subprocess

from tests.guests.newc import read_newc
from vmm.guests import initramfs

BUSYBOX = b"\x7fELF stand-in busybox"


def _members():
    return {m["name"]: m for m in read_newc(gzip.decompress(initramfs.build(BUSYBOX)))}


def test_busybox_and_the_applets_a_session_uses():
    members = _members()
    assert members["bin/busybox"]["data"] == BUSYBOX and members["bin/busybox"]["mode"] == stat.S_IFREG | 0o755
    for applet in "sh mount echo cat uname sha256sum gzip gunzip poweroff setsid cttyhack".split():
        link = members[f"bin/{applet}"]
        assert stat.S_ISLNK(link["mode"]) and link["data"] == b"busybox", applet


def test_console_and_serial_device_nodes():
    members = _members()
    for name, rdev in (("dev/console", (5, 1)), ("dev/ttyS0", (4, 64))):
        assert stat.S_ISCHR(members[name]["mode"]) and (members[name]["rdevmajor"], members[name]["rdevminor"]) == rdev


def test_parents_come_before_what_they_hold():
    seen = set()
    for member in read_newc(gzip.decompress(initramfs.build(BUSYBOX))):
        parent = member["name"].rpartition("/")[0]
        assert not parent or parent in seen, member["name"]
        seen.add(member["name"])
    assert {"proc", "sys", "dev", "tmp", "root"} <= seen


def test_init_mounts_prints_the_marker_then_runs_a_shell_and_powers_off():
    init = _members()["init"]
    assert init["mode"] == stat.S_IFREG | 0o755
    lines = init["data"].decode().splitlines()
    assert lines[0] == "#!/bin/sh"
    mounts = [line.split()[2] for line in lines if line.startswith("mount ")]
    assert mounts == ["proc", "sysfs", "devtmpfs"]
    marker = lines.index(f"echo {initramfs.MARKER}")
    shell = lines.index("setsid cttyhack sh")
    assert max(i for i, line in enumerate(lines) if line.startswith("mount ")) < marker < shell
    assert lines[-1] == "poweroff -f"


def test_scripts_parse_as_shell():
    files = _members()
    for name in ("init", "etc/shrc"):
        done = subprocess.run(["sh", "-n"], input=files[name]["data"], capture_output=True)
        assert done.returncode == 0, (name, done.stderr)
    assert b"alias poweroff='poweroff -f'" in files["etc/shrc"]["data"]
    assert b"ENV=/etc/shrc" in files["init"]["data"]


def test_same_busybox_same_bytes_and_the_recipe_follows_the_scripts(monkeypatch):
    assert initramfs.build(BUSYBOX) == initramfs.build(BUSYBOX)
    before = initramfs.recipe()
    monkeypatch.setattr(initramfs, "INIT", initramfs.INIT + "# changed\n")
    assert initramfs.recipe() != before
