"""Malformed and mutated guest images for the loader: each must load or be refused with a
VmmError (one clear line), never a Python traceback; one that loads must run to a RunResult.

Seeds: the example hello.elf, a minimal multiboot ELF (tests/boot/elfgen.py) and an a.out-
kludge multiboot image; mutations flip bytes, truncate, overwrite header fields with
boundary values, or append garbage.

Example:
    image = mutated_image(random.Random(1))
    outcome = load_and_run(image, tmp_dir)      # "loaded", "refused" (a VmmError) or raises
"""

import os
import struct
from pathlib import Path

from vmm.errors import VmmError
from vmm.machine import Machine

from tests.boot.elfgen import EHDR, PHDR, elf32, multiboot_header

ROOT = Path(__file__).resolve().parents[2]
BOUNDARY = (0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x100000, 0x1000)


def seed_images():
    kludge = multiboot_header(flags=0x10003, addresses=(0x100000, 0x100000, 0x100020, 0x100040, 0x100000))
    images = [elf32(code=b"\xf4"), elf32(code=b"\x90" * 32 + b"\xf4", bss=0x1000), kludge + b"\xf4" * 32]
    hello = ROOT / "examples" / "images" / "hello.elf"
    if hello.exists():
        images.append(hello.read_bytes())
    return images


def mutated_image(rng, seeds):
    image = bytearray(rng.choice(seeds))
    for _ in range(rng.randrange(1, 4)):
        how = rng.randrange(5)
        if how == 0 and image:                                    # flip bytes anywhere
            for _ in range(rng.randrange(1, 9)):
                image[rng.randrange(len(image))] ^= 1 << rng.randrange(8)
        elif how == 1:                                            # truncate
            del image[rng.randrange(len(image) + 1):]
        elif how == 2 and len(image) >= EHDR.size + PHDR.size:     # a header field set to a boundary
            at = rng.randrange(0, EHDR.size + PHDR.size - 3) & ~1
            width = 4 if rng.random() < 0.7 else 2
            value = rng.choice(BOUNDARY) & ((1 << (8 * width)) - 1)
            struct.pack_into("<I" if width == 4 else "<H", image, min(at, len(image) - width), value)
        elif how == 3:                                            # garbage appended
            image += rng.randbytes(rng.randrange(1, 64))
        elif image:                                               # a multiboot field mutated
            at = image.find(struct.pack("<I", 0x1BADB002))
            if at >= 0 and at + 32 <= len(image):
                struct.pack_into("<I", image, at + 4 * rng.randrange(1, 8), rng.choice(BOUNDARY))
    return bytes(image)


def load_and_run(image, directory, name="image.elf"):
    """'loaded' or 'refused'; any other exception propagates (a finding)."""
    path = os.path.join(directory, name)
    with open(path, "wb") as out:
        out.write(image)
    m = Machine(memory_mb=4, engine="interp")
    try:
        m.load(path, cmdline="fuzz")
    except VmmError:
        return "refused"
    m.run(max_insns=200)
    return "loaded"
