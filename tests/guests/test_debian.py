"""vmm/guests/debian.py with apt faked (tests/guests/conftest.py): what a fetch runs, what
it caches, when the cache is trusted, and the errors it gives."""

import gzip
import hashlib
import json

import pytest

from tests.guests.conftest import KERNEL, build_deb
from tests.guests.newc import read_newc
from vmm.errors import GuestFetchError
from vmm.guests import apt, debian

VERSIONS = {KERNEL: "6.1.999-1", "busybox-static": "1:1.35.0-4"}


def test_fetch_downloads_the_kernel_the_metapackage_depends_on_and_caches_the_guest(fake_apt, tmp_path):
    said = []
    guest = debian.fetch(progress=said.append)
    assert fake_apt.commands() == ["dpkg --add-architecture", "apt-get update", "apt-cache depends",
                                   "apt-get download", "dpkg-deb --field", "dpkg-deb --field",
                                   "dpkg-deb --extract", "dpkg-deb --extract"]
    assert fake_apt.calls[0] == ["dpkg", "--add-architecture", "i386"]
    assert fake_apt.calls[3][-2:] == [f"{KERNEL}:i386", "busybox-static:i386"]
    directory = tmp_path / "cache/vmm/guests/debian-i386"
    assert guest.kernel == directory / "vmlinuz" and guest.initrd == directory / "initramfs.cpio.gz"
    assert guest.kernel.read_bytes() == b"KERNEL" * 100
    members = {m["name"]: m for m in read_newc(gzip.decompress(guest.initrd.read_bytes()))}
    assert members["bin/busybox"]["data"] == b"BUSYBOX" * 100
    assert guest.versions == VERSIONS and guest.release == "6.1.0-99-686"
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["packages"] == VERSIONS
    assert manifest["files"]["vmlinuz"]["sha256"] == hashlib.sha256(b"KERNEL" * 100).hexdigest()
    assert manifest["files"]["initramfs.cpio.gz"]["sha256"] == hashlib.sha256(guest.initrd.read_bytes()).hexdigest()
    assert sorted(p.name for p in directory.iterdir()) == ["initramfs.cpio.gz", "manifest.json", "vmlinuz"]
    assert any("apt-get download" in message for message in said)


def test_a_cached_guest_is_returned_without_apt_and_force_fetches_again(fake_apt):
    first = debian.fetch()
    fake_apt.calls.clear()
    assert debian.fetch() == first == debian.cached() and fake_apt.calls == []
    assert debian.fetch(force=True) == first and "apt-get download" in fake_apt.commands()


def test_nothing_cached(fake_apt):
    assert debian.cached() is None


@pytest.mark.parametrize("damage", ["truncate kernel", "delete initrd", "bad manifest", "old recipe"])
def test_a_damaged_or_stale_cache_is_not_trusted(fake_apt, damage):
    guest = debian.fetch()
    manifest_path = guest.kernel.parent / "manifest.json"
    if damage == "truncate kernel":
        guest.kernel.write_bytes(guest.kernel.read_bytes()[:-1])
    elif damage == "delete initrd":
        guest.initrd.unlink()
    elif damage == "bad manifest":
        manifest_path.write_text("{")
    else:
        manifest = json.loads(manifest_path.read_text())
        manifest_path.write_text(json.dumps({**manifest, "initramfs_recipe": "something older"}))
    assert debian.cached() is None
    fake_apt.calls.clear()
    assert debian.fetch() == guest and "apt-get download" in fake_apt.commands()


def test_a_failed_update_is_tolerated_when_the_packages_are_found(fake_apt):
    fake_apt.update_error = "E: Failed to fetch bookworm-security: Mirror sync in progress"
    said = []
    assert debian.fetch(progress=said.append).versions == VERSIONS
    assert any("Mirror sync in progress" in message for message in said)


def test_a_failed_update_is_named_when_the_packages_are_not_found(fake_apt):
    fake_apt.update_error = "E: Failed to fetch bookworm: Mirror sync in progress"
    fake_apt.missing = True
    with pytest.raises(GuestFetchError) as error:
        debian.fetch()
    message = str(error.value)
    assert message.startswith("guest fetch: ") and "\n" not in message
    assert "No packages found" in message and "Mirror sync in progress" in message
    assert debian.cached() is None


def test_wrong_package_from_download_is_refused(fake_apt, tmp_path):
    fake_apt.debs = [fake_apt.debs[0], build_deb(tmp_path, "busybox-static", "1:1.35.0-4",
                                                 {"bin/busybox": b"x"}, arch="amd64")]
    with pytest.raises(GuestFetchError, match="busybox-static.*amd64"):
        debian.fetch()
    assert debian.cached() is None


def test_fetching_needs_root_but_reading_the_cache_does_not(fake_apt, monkeypatch):
    guest = debian.fetch()
    monkeypatch.setattr(apt.os, "geteuid", lambda: 1000)
    assert debian.fetch() == guest
    with pytest.raises(GuestFetchError, match=r"run `sudo vmm guest fetch debian-i386`"):
        debian.fetch(force=True)


@pytest.mark.parametrize("depends, found", [("  Depends: libc6\n", "none"),
                                            ("  Depends: linux-image-a\n  Depends: linux-image-b\n",
                                             "linux-image-a, linux-image-b")])
def test_the_kernel_dependency_must_be_one_package(monkeypatch, depends, found):
    monkeypatch.setattr(apt, "run", lambda argv, cwd=None: "linux-image-686:i386\n" + depends)
    with pytest.raises(GuestFetchError, match=f"found {found}$"):
        apt.dependency("linux-image-686:i386", "linux-image-")


def test_a_failing_command_is_one_line_with_apts_error(tmp_path):
    script = tmp_path / "apt-like"
    script.write_text("#!/bin/sh\necho 'Reading lists'\necho 'W: noise' >&2\necho 'E: the reason' >&2\n"
                      "echo 'E: a consequence' >&2\nexit 100\n")
    script.chmod(0o755)
    with pytest.raises(GuestFetchError) as error:
        apt.run([str(script), "update"])
    assert str(error.value) == f"guest fetch: `{script} update` failed (exit status 100): E: the reason"
    with pytest.raises(GuestFetchError, match="cannot run no-such-tool-here: No such file"):
        apt.run(["no-such-tool-here"])
