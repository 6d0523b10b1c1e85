"""A nanobenchmark as a multiboot image that qemu-system-i386 boots with `-kernel`.

The image is the nanobenchmark's flat code, assembled at ORIGIN (0x1000) as on vmm and
Unicorn, behind a 32-byte multiboot v1 header with the a.out kludge (flag 16): the header's
address fields tell the loader to place the file at ORIGIN - 32, so the header lands just below
the code and the code at ORIGIN, and to enter at ORIGIN.  QEMU 7.2 accepts this low load
address; its multiboot information (e820 map at 0x9000, info at 0x9500) and its copy of the
image stay clear of what the loops use (code from 0x1000, IDT 0x3000, TSS 0x5000, stacks
below 0x80000/0x90000, page tables at 0x100000).

QEMU enters as multiboot says (flat 4 GiB ring-0 segments, paging off, A20 on, IF clear), as
vmm's runs start, but its BIOS left the PICs programmed with the BIOS timer unmasked (vmm's
PICs start masked): the image first masks both PICs (`QEMU_START`).  The loop body is the
same; only the end differs: `cli; hlt` would keep QEMU waiting forever, so the QEMU variant
writes EXIT_VALUE to the isa-debug-exit port (0xf4) instead, which ends QEMU with status
EXIT_STATUS.  (In ring 3, as sysenter's loop ends, the `out` is allowed: IOPL is 3.)

Example:
    image = qemu_image(MICRO["callret"], 1000)
    Path("callret.bin").write_bytes(image)     # qemu-system-i386 -kernel callret.bin ...
"""

import struct

from .workloads import ORIGIN

MAGIC = 0x1BADB002
FLAGS = 1 << 16                  # the a.out kludge: the header's addresses place the file
HEADER = struct.Struct("<8I")    # magic, flags, checksum, header/load/load_end/bss_end/entry
DEBUG_EXIT_PORT = 0xF4
EXIT_VALUE = 0x21
EXIT_STATUS = EXIT_VALUE << 1 | 1          # qemu-system-i386's exit status after the write
QEMU_START = """
    mov al, 0xff
    out 0x21, al
    out 0xa1, al                         ; mask both PICs (the BIOS left its timer on)
"""
QEMU_END = f"""
    cli
    mov al, {EXIT_VALUE:#x}
    out {DEBUG_EXIT_PORT:#x}, al
"""


def qemu_image(work, n):
    """The multiboot image of nanobenchmark `work` (a workloads.Micro) at n iterations."""
    code = work.assemble(n, start=QEMU_START, end=QEMU_END)
    load = ORIGIN - HEADER.size
    header = HEADER.pack(MAGIC, FLAGS, -(MAGIC + FLAGS) & 0xFFFFFFFF, load, load, ORIGIN + len(code), 0, ORIGIN)
    return header + code
