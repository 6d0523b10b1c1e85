"""Bare-metal test guests assembled on the fly with Keystone and run on a vmm engine.

Example:
    m, result = run_asm("jit", "mov eax, 1\\ncli\\nhlt")
    assert result.reason == "halt" and m.reg_read("eax") == 1
"""

import struct

import struct

from keystone import Ks, KS_ARCH_X86, KS_MODE_32

from vmm.machine import Machine

ORIGIN = 0x1000


def assemble(src, origin=ORIGIN):
    """Keystone bytes for `src` (Intel syntax; `;` starts a comment, which Keystone lacks)."""
    src = "\n".join(line.split(";")[0] for line in src.splitlines())
    encoding, _ = Ks(KS_ARCH_X86, KS_MODE_32).asm(src, origin)
    return bytes(encoding)


# The engines every instruction test runs on: the interpreter, the translator as it runs
# (tier 0 first), and the translator compiling straight at tier 2 (optimised IR, state kept
# in SSA to block exits), which code run once would otherwise never reach.
ENGINE_VARIANTS = ("interp", "jit", "jit-tier2")


def new_machine(engine, memory_mb=2, **options):
    """A Machine for one of ENGINE_VARIANTS (`options`: more Machine arguments)."""
    if engine == "jit-tier2":
        return Machine(memory_mb=memory_mb, engine="jit", jit_tier=2, **options)
    return Machine(memory_mb=memory_mb, engine=engine, **options)


def machine_with(engine, src, memory_mb=2, origin=ORIGIN, **options):
    m = new_machine(engine, memory_mb, **options)
    m.mem_write(origin, assemble(src, origin))
    m.reg_write("eip", origin)
    m.reg_write("esp", 0x80000)
    return m


def run_asm(engine, src, max_insns=1_000_000, memory_mb=2):
    m = machine_with(engine, src, memory_mb)
    return m, m.run(max_insns=max_insns)


def labels(src, origin=ORIGIN):
    """Label addresses: the source is assembled with a `.long label` per label appended."""
    names = [line.split(";")[0].strip()[:-1] for line in src.splitlines()
             if line.split(";")[0].strip().endswith(":")]
    code = assemble(src + "\n" + "\n".join(f".long {name}" for name in names), origin)
    values = struct.unpack(f"<{len(names)}I", code[-4 * len(names):])
    return dict(zip(names, values))


# Descriptor tables for guests that take interrupts: a flat GDT (0x08 code, 0x10 data) and
# an IDT register for 256 gates at IDT_BASE.  The guest runs `lgdt [gdtr]` and `lidt [idtr]`;
# the host fills gates with set_gate.
IDT_BASE = 0x9000
FLAT_TABLES = f"""
.align 8
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
gdtr:
    .word 23
    .long gdt
idtr:
    .word 0x7ff
    .long {IDT_BASE:#x}
"""


def set_gate(m, vector, handler):
    """A present 32-bit ring-0 interrupt gate to 0x08:handler for `vector`."""
    gate = (handler & 0xFFFF) | (0x08 << 16) | (0x8E00 << 32) | ((handler >> 16) << 48)
    m.mem_write(IDT_BASE + vector * 8, struct.pack("<Q", gate))
