"""The nanobenchmarks as multiboot images for qemu-system-i386: the header places the code at
ORIGIN and enters there, clear of the fixed addresses the loops use; QEMU runs every image to
isa-debug-exit, and the loop runs exactly n times (QEMU's own trace of the translated blocks
it executes, limited to the image's addresses, counts the jumps back to the loop's top)."""

import shutil
import subprocess
import struct

import pytest
from keystone import Ks, KS_ARCH_X86, KS_MODE_32

from vmm.boot.multiboot import load_multiboot
from vmm.bench.harness import QEMU_ICOUNT
from vmm.bench.peers import ICOUNT, qemu_command
from vmm.bench.qemu_image import EXIT_STATUS, HEADER, MAGIC, QEMU_END, QEMU_START, qemu_image
from vmm.bench.workloads import MICRO, ORIGIN
from vmm.memory import PhysicalMemory

IDT = 0x3000                     # the lowest fixed address a prologue writes (TSS 0x5000, ...)


def _loop_top(work, n):
    """The address of the loop's first instruction in the QEMU image's code."""
    source = work.source(n, QEMU_START, QEMU_END)
    prefix = "\n".join(line.split(";")[0] for line in source[:source.index("loop_top:")].splitlines())
    return ORIGIN + len(Ks(KS_ARCH_X86, KS_MODE_32).asm(prefix, ORIGIN)[0])


@pytest.mark.parametrize("name", MICRO)
def test_image_header_places_the_code_at_origin(name):
    work = MICRO[name]
    image = qemu_image(work, 1000)
    magic, flags, checksum, header_addr, load, load_end, bss_end, entry = HEADER.unpack_from(image)
    assert (magic, flags, (magic + flags + checksum) & 0xFFFFFFFF) == (MAGIC, 1 << 16, 0)
    assert header_addr == load == ORIGIN - HEADER.size and entry == ORIGIN and bss_end == 0
    code = work.assemble(1000, start=QEMU_START, end=QEMU_END)
    assert image[HEADER.size:] == code and load_end == ORIGIN + len(code) <= IDT
    assert struct.pack("<BB", 0xE6, 0xF4) in code and code.endswith(struct.pack("<BB", 0xE6, 0xF4))  # out 0xf4, al
    memory = PhysicalMemory(4 << 20)                 # vmm's own multiboot loader reads it alike
    boot = load_multiboot(image, memory)
    assert boot.entry == ORIGIN and boot.loaded == [(ORIGIN - HEADER.size, ORIGIN + len(code))]
    assert memory.read(ORIGIN, len(code)) == code


QEMU = shutil.which("qemu-system-i386")
# Blocks QEMU starts at the loop's top per iteration: one at each `jnz` taken (n - 1 of them:
# the first iteration runs on from the block before); smc_store's store rewrites the block it
# runs in, so QEMU starts a new block at the store, the loop's top, once more each iteration.
BLOCKS_AT_TOP = {"smc_store": 2}


@pytest.mark.skipif(QEMU is None, reason="qemu-system-i386 is not installed (apt-get install qemu-system-x86)")
@pytest.mark.parametrize("name", MICRO)
def test_qemu_runs_the_loop_n_times_to_debug_exit(name, tmp_path):
    work = MICRO[name]
    for n in (7, 19):
        image = tmp_path / f"{name}-{n}.bin"
        image.write_bytes(qemu_image(work, n))
        trace = tmp_path / f"{name}-{n}.trace"
        end = ORIGIN + len(image.read_bytes()) - HEADER.size - 1
        done = subprocess.run(qemu_command(image, memory_mb=4) + (ICOUNT if name in QEMU_ICOUNT else []) +
                              ["-d", "exec,nochain", "-dfilter", f"{ORIGIN:#x}..{end:#x}", "-D", str(trace)],
                              capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        assert done.returncode == EXIT_STATUS, done.stderr
        top = f"/{_loop_top(work, n):08x}/"
        starts = sum(top in line for line in trace.read_text().splitlines() if line.startswith("Trace"))
        assert starts == BLOCKS_AT_TOP.get(name, 1) * n - 1
