"""The example guests under `vmm run` on both engines, and the benchmark checksum under vmm,
QEMU and native code (the three must agree)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "examples" / "images"
QEMU_ARGS = ["-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
             "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]


def vmm(*args):
    return subprocess.run([sys.executable, "-m", "vmm", "run", *map(str, args)], capture_output=True,
                          timeout=300, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_hello(engine):
    done = vmm(IMAGES / "hello.elf", "--engine", engine)
    assert done.stdout == b"Hello from a vmm guest!\n" and done.returncode == 1


@pytest.mark.parametrize("engine", [["--engine", "jit"], ["--engine", "interp"], ["--jit-tier", "2"]])
def test_exerciser_passes_every_hardware_vector(engine):
    done = vmm(IMAGES / "exerciser.elf", *engine)
    lines = done.stdout.decode().splitlines()
    assert lines[-1] == "exerciser: 61 passed, 0 failed", "\n".join(l for l in lines if l.startswith("FAIL"))
    assert done.returncode == 1


@pytest.mark.parametrize("engine, iters", [(["--engine", "jit"], 200), (["--engine", "interp"], 1),
                                           (["--jit-tier", "2"], 200)])
def test_bench_checksum_ok(engine, iters):
    done = vmm(IMAGES / "bench.elf", *engine, "--append", f"iters={iters}")
    assert b"bench: checksum ok" in done.stdout and done.returncode == 1


@pytest.mark.parametrize("image", ["hello.elf", "exerciser.elf"])
def test_guest_in_lockstep(image):
    done = vmm(IMAGES / image, "--check")
    assert done.returncode == 0 and b"no divergence" in done.stderr


def test_bench_checksum_matches_qemu_and_native():
    iters = 100
    ours = vmm(IMAGES / "bench.elf", "--append", f"iters={iters}").stdout.splitlines()[0]
    qemu = shutil.which("qemu-system-i386")
    assert qemu, "qemu-system-i386 is required (apt-get install qemu-system-x86; .ci/run installs it)"
    theirs = subprocess.run([qemu, "-kernel", str(IMAGES / "bench.elf"), "-append", f"iters={iters}", *QEMU_ARGS],
                            capture_output=True, timeout=120, stdin=subprocess.DEVNULL).stdout.splitlines()[0]
    built = subprocess.run(["make", "-C", str(ROOT / "examples"), "native"], capture_output=True)
    assert built.returncode == 0, built.stderr.decode()
    native = subprocess.run([str(ROOT / "examples" / "build" / "bench-native"), f"iters={iters}"],
                            capture_output=True).stdout.splitlines()[0]
    assert ours == theirs == native == b"bench: iters=100 checksum=0x79546fe7"


def test_bench_in_lockstep_through_tier_two():
    """Long enough for the inner loops to be promoted to tier 2 (LLVM -O2, self-loops)."""
    done = vmm(IMAGES / "bench.elf", "--check", "--append", "iters=8")
    assert done.returncode == 0 and b"no divergence" in done.stderr, done.stderr.decode()
