"""vmm's multiboot hand-off against QEMU's (`-kernel`), the reference loader, for the same image.

The guest prints EAX, mem_lower and the first three memory-map entries (size field included);
vmm's loader must put the same values in the same places.  (QEMU's map goes on differently:
SeaBIOS reserves the top 128 KiB of RAM and the BIOS flash below 4 GiB, which vmm's PC lacks.)
"""

import struct

from vmm.boot.multiboot import load_multiboot
from vmm.memory import PhysicalMemory

from .qemuguest import guest_image, run_in_qemu

MB = 1 << 20

REPORT = """
    call hex32
    mov eax, [ebx+4]
    call hex32
    mov esi, [ebx+48]
    mov ecx, 18
entries:
    mov eax, [esi]
    call hex32
    add esi, 4
    loop entries
    jmp done
"""


def test_magic_mem_lower_and_memory_map_match_qemu(tmp_path):
    image = guest_image(REPORT)
    printed = [int(word, 16) for word in run_in_qemu(image, tmp_path, memory_mb=16).split()]
    memory = PhysicalMemory(16 * MB)
    boot = load_multiboot(image, memory)
    info = boot.regs["ebx"]
    mmap = struct.unpack("<18I", memory.read(memory.read_u(info + 48, 4), 18 * 4))
    assert printed == [boot.regs["eax"], memory.read_u(info + 4, 4), *mmap]
    assert printed[:2] == [0x2BADB002, 639]
