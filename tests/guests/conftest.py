"""A stand-in for apt: `fake_apt` replaces vmm.guests.apt.run, answering dpkg, apt-get and
apt-cache from canned data and writing real (tiny) .deb files built with dpkg-deb, which runs
for real; the cache goes to a temporary directory and the process counts as root."""

import shutil
import subprocess

import pytest

from vmm.errors import GuestFetchError
from vmm.guests import apt

KERNEL = "linux-image-6.1.0-99-686"
DEPENDS = f"""linux-image-686:i386
  Depends: {KERNEL}:i386
  Recommends: firmware-linux-free
"""


def build_deb(directory, package, version, files, arch="i386"):
    """A .deb holding `files` (path -> bytes), named as apt-get download names it."""
    tree = directory / f"{package}-tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text(f"Package: {package}\nVersion: {version}\nArchitecture: {arch}\n"
                                         "Maintainer: vmm tests <tests@example.invalid>\n"
                                         "Description: stand-in\n two lines\n")
    for path, data in files.items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_bytes(data)
    deb = directory / f"{package}_{version.replace(':', '%3a')}_{arch}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(deb)],
                   check=True, capture_output=True)
    return deb


class FakeApt:
    """What apt would do; `calls` lists every command, `update_error` and `missing` make
    apt-get update or the kernel package fail, `debs` are what apt-get download gives."""

    def __init__(self, debs):
        self.debs = debs
        self.calls = []
        self.update_error = None
        self.missing = False

    def run(self, argv, cwd=None):
        self.calls.append(argv)
        if argv[0] == "dpkg-deb":
            return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=True).stdout
        if argv[:2] == ["apt-get", "update"] and self.update_error:
            raise GuestFetchError(self.update_error)
        if argv[:2] == ["apt-cache", "depends"]:
            if self.missing:
                raise GuestFetchError("`apt-cache depends` failed: E: No packages found")
            return DEPENDS
        if argv[:2] == ["apt-get", "download"]:
            for deb in self.debs:
                shutil.copy(deb, cwd)
        return ""

    def commands(self):
        return [" ".join(argv[:2]) for argv in self.calls]


@pytest.fixture(scope="session")
def debs(tmp_path_factory):
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed")
    directory = tmp_path_factory.mktemp("debs")
    return [build_deb(directory, KERNEL, "6.1.999-1", {"boot/vmlinuz-6.1.0-99-686": b"KERNEL" * 100,
                                                       "boot/config-6.1.0-99-686": b"CONFIG"}),
            build_deb(directory, "busybox-static", "1:1.35.0-4", {"bin/busybox": b"BUSYBOX" * 100})]


@pytest.fixture
def fake_apt(debs, tmp_path, monkeypatch):
    fake = FakeApt(debs)
    monkeypatch.setattr(apt, "run", fake.run)
    monkeypatch.setattr(apt.os, "geteuid", lambda: 0)
    monkeypatch.setenv("VMM_CACHE_DIR", str(tmp_path / "cache"))
    return fake
