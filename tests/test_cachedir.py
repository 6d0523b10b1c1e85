"""vmm/cachedir.py: where the cache lives, and writes that are all or nothing."""

import os
from pathlib import Path

import pytest

from vmm import cachedir


def test_base_is_vmm_cache_dir_then_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("VMM_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cachedir.cache_dir("guests", "x") == tmp_path / "home/.cache/vmm/guests/x"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")            # the XDG spec: absolute only
    assert cachedir.cache_dir("elf") == tmp_path / "home/.cache/vmm/elf"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cachedir.cache_dir("elf") == tmp_path / "xdg/vmm/elf"
    monkeypatch.setenv("VMM_CACHE_DIR", str(tmp_path / "tests"))
    assert cachedir.cache_dir("elf") == tmp_path / "tests/vmm/elf"


def test_write_creates_the_directory_and_replaces_the_file(tmp_path):
    path = tmp_path / "a" / "b" / "file"
    cachedir.write_atomic(path, b"one")
    cachedir.write_atomic(path, b"two")
    assert path.read_bytes() == b"two" and os.listdir(path.parent) == ["file"]
    assert path.stat().st_mode & 0o777 == 0o644


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "file"
    path.write_bytes(b"old")

    def interrupted(fd):
        raise KeyboardInterrupt
    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cachedir.write_atomic(path, b"new" * 1000)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["file"]


def test_an_unwritable_directory_is_an_os_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(OSError):
        cachedir.write_atomic(Path(blocker, "below"), b"x")
