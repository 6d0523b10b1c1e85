"""Run a small multiboot guest under qemu-system-i386, the reference PC, and read what it printed.

The guest is Keystone-assembled code placed right after the multiboot header (entry 0x10000C);
it may call `hex32` (print EAX as 8 hex digits and a space on COM1; keeps every register) and
ends by jumping to `done` (isa-debug-exit, exit status 33).  Tests compare the printed values
with what vmm's own loader or device model gives for the same image or register sequence.

Example:
    out = run_in_qemu(guest_image("mov eax, 0x1234\\ncall hex32\\njmp done"), tmp_path)
    assert out.split() == [b"00001234"]
"""

import shutil
import subprocess

import pytest

from tests.asmguest import assemble

from .elfgen import elf32

ENTRY = 0x10000C                 # just past the 12-byte multiboot header at 0x100000

RUNTIME = """
done:
    mov al, 0x10
    out 0xf4, al
hang:
    hlt
    jmp hang
hex32:
    pushad
    mov edx, 0x3f8
    mov ecx, 8
hex_digit:
    rol eax, 4
    mov ebx, eax
    and al, 0x0f
    add al, 0x30
    cmp al, 0x39
    jbe hex_out
    add al, 7
hex_out:
    out dx, al
    mov eax, ebx
    loop hex_digit
    mov al, 0x20
    out dx, al
    popad
    ret
"""


def guest_image(body):
    """A multiboot ELF running `body` (Intel syntax) with the runtime above appended."""
    return elf32(assemble("mov esp, 0x90000\n" + body + "\n" + RUNTIME, ENTRY), entry=ENTRY)


def run_in_qemu(image, tmp_path, memory_mb=16, cmdline="", timeout=60):
    """COM1 output of `image` booted with QEMU's multiboot loader (`-kernel`)."""
    qemu = shutil.which("qemu-system-i386")
    if qemu is None:
        pytest.fail("qemu-system-i386 is required: apt-get install qemu-system-x86 (.ci/run installs it)")
    kernel, serial = tmp_path / "guest.elf", tmp_path / "serial.out"
    kernel.write_bytes(image)
    done = subprocess.run([qemu, "-kernel", kernel, "-append", cmdline, "-m", str(memory_mb), "-display", "none",
                           "-nodefaults", "-no-reboot", "-serial", f"file:{serial}",
                           "-device", "isa-debug-exit,iobase=0xf4,iosize=4"],
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert done.returncode == 33, f"the guest did not reach `done` under QEMU: {done.stderr.decode()}"
    return serial.read_bytes()
