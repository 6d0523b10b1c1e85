"""The on-disk cache of ELF parses: a second load of an image gives the same parse without
importing LIEF; corrupt cache files and images that fail to parse are never trusted."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vmm.boot import elfcache
from vmm.boot.elf import read_elf32
from vmm.errors import ImageError

HELLO = Path(__file__).resolve().parents[2] / "examples" / "images" / "hello.elf"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VMM_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("VMM_NO_CACHE", raising=False)
    return tmp_path / "vmm" / "elf"


def test_second_parse_comes_from_the_cache(cache):
    image = HELLO.read_bytes()
    first = read_elf32(image, "hello.elf")
    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].suffix == ".json"
    assert read_elf32(image, "hello.elf") == first


def test_corrupt_cache_file_is_parsed_again_and_replaced(cache):
    image = HELLO.read_bytes()
    first = read_elf32(image, "hello.elf")
    path = next(cache.iterdir())
    path.write_text("{not json")
    assert read_elf32(image, "hello.elf") == first
    assert path.read_text().startswith("{\"entry\"")


def test_failed_parses_are_not_cached(cache):
    image = bytearray(HELLO.read_bytes())
    image[18] = 0x3E                                   # e_machine: x86-64
    for _ in range(2):
        with pytest.raises(ImageError, match="not i386"):
            read_elf32(bytes(image), "amd64.elf")
    assert not cache.exists() or not list(cache.iterdir())


def test_a_cached_image_loads_without_importing_lief(cache, tmp_path):
    probe = ("import sys; from vmm.machine import Machine; Machine(memory_mb=16).load(sys.argv[1]); "
             "print('lief' in sys.modules)")
    env = dict(os.environ, VMM_CACHE_DIR=str(tmp_path))
    runs = [subprocess.run([sys.executable, "-c", probe, str(HELLO)], env=env, capture_output=True,
                           text=True, check=True).stdout.strip() for _ in range(2)]
    assert runs == ["True", "False"]
