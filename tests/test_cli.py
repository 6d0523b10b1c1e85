"""The `vmm` command end to end: guest output, exit codes, and one clear line for bad input."""

import subprocess
import sys

import pytest

from tests.asmguest import assemble
from tests.boot.elfgen import elf32

HELLO = """
    mov esi, msg
    mov dx, 0x3f8
next:
    lodsb
    test al, al
    jz done
    out dx, al
    jmp next
done:
    mov al, 0x10
    out 0xf4, al
msg: .asciz "serial works\\n"
"""


def vmm(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "vmm", *map(str, args)], capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def flat(tmp_path):
    def write(src, name="guest.bin"):
        path = tmp_path / name
        path.write_bytes(assemble(src, 0x100000))
        return path
    return write


@pytest.mark.parametrize("engine", [["--engine", "jit"], ["--engine", "interp"], ["--jit-tier", "2"]])
def test_flat_guest_prints_and_exits_through_debug_exit(flat, engine):
    done = vmm("run", flat(HELLO), "--load-address", "0x100000", *engine, "-m", "4")
    assert done.stdout == b"serial works\n"
    assert done.returncode == (0x10 << 1) | 1
    assert b"instructions in" in done.stderr and b"exit" in done.stderr


def test_multiboot_image_runs(tmp_path):
    image = tmp_path / "mb.elf"
    image.write_bytes(elf32(assemble(HELLO, 0x10000C), entry=0x10000C))   # code follows the header
    done = vmm("run", image, "-m", "4")
    assert done.stdout == b"serial works\n" and done.returncode == 33


@pytest.mark.parametrize("content, message", [
    (None, b"No such file"),
    (b"not an image", b"not an ELF file"),
    (elf32(b"\xf4", cls=2), b"64-bit ELF"),
    (elf32(b"\xf4", multiboot=False), b"no multiboot header"),
])
def test_bad_images_exit_2_with_one_line(tmp_path, content, message):
    path = tmp_path / "bad.elf"
    if content is not None:
        path.write_bytes(content)
    done = vmm("run", path)
    assert done.returncode == 2
    assert message in done.stderr and done.stderr.count(b"\n") == 1 and b"Traceback" not in done.stderr


def test_unknown_instruction_stops_with_its_name(flat):
    done = vmm("run", flat("nop\nfsin"), "--load-address", "0x100000", "-m", "4")
    assert done.returncode == 4 and b"#UD" in done.stderr and b"fsin" in done.stderr
    assert b"Traceback" not in done.stderr


def test_access_outside_ram_stops_cleanly(flat):
    done = vmm("run", flat("mov eax, dword ptr [0x40000000]"), "--load-address", "0x100000", "-m", "4")
    assert done.returncode == 4 and b"outside guest RAM" in done.stderr and b"0x40000000" in done.stderr
    assert b"Traceback" not in done.stderr


def test_max_insns_limit(flat):
    done = vmm("run", flat("l: jmp l"), "--load-address", "0x100000", "-m", "4", "--max-insns", "5000")
    assert done.returncode == 0 and b"5000 instructions" in done.stderr and b"limit" in done.stderr


def test_check_mode_agrees(flat):
    done = vmm("run", flat(HELLO), "--load-address", "0x100000", "-m", "4", "--check")
    assert done.returncode == 0 and done.stdout == b"serial works\n"
    assert b"no divergence" in done.stderr


def test_serial_to_file(flat, tmp_path):
    out = tmp_path / "serial.txt"
    done = vmm("run", flat(HELLO), "--load-address", "0x100000", "-m", "4", "--serial", f"file:{out}")
    assert done.stdout == b"" and out.read_bytes() == b"serial works\n"
