"""Random guest programs for differential fuzzing: instructions from Keystone-assembled shapes
and from random bytes that Capstone decodes into a form vmm implements.

Every instruction is straight-line or a short forward jcc (so a program always ends at the
hlt run_vmm/run_unicorn append); memory operands use the pointer registers into the data
region, except the random-byte ones, which may address anything (both sides then fault).

Example:
    rng = random.Random(1)
    program = random_program(rng)
    program.code, program.text        # bytes to run, a readable listing
"""

import random
from dataclasses import dataclass

from vmm.memory import PhysicalMemory
from vmm.x86.decoder import Decoder
from vmm.x86.table import IDENT

from tests.x86.oracle import CODE, GPRS, POINTERS, STACK_TOP, assemble

R32 = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp")
R8 = ("al", "bl", "cl", "dl", "ah", "bh", "ch", "dh")
R16 = ("ax", "bx", "cx", "dx", "si", "di")
POINTER = ("esi", "edi", "ebp")                  # they point into the data region (oracle.POINTERS)
CC = ("a", "ae", "b", "be", "e", "ne", "g", "ge", "l", "le", "o", "no", "s", "ns", "p", "np")
ALU = ("add", "sub", "adc", "sbb", "and", "or", "xor", "cmp", "test")
SHIFT = ("shl", "shr", "sar", "rol", "ror", "rcl", "rcr")
UNARY = ("inc", "dec", "neg", "not")
SIMPLE = ("clc", "stc", "cmc", "lahf", "sahf", "cdq", "cwde", "cbw", "cwd", "nop", "std", "cld")

# {r} a 32-bit register that is not a pointer, {p} a pointer register, {s} any 32-bit
# register, {b} an 8-bit one, {w} a 16-bit one, {i} an immediate, {k} a shift count,
# {o} a small data offset, {c} a condition.
SHAPES = (
    "{alu} {r}, {s}", "{alu} {r}, {i}", "{alu} {b}, {b}", "{alu} {w}, {w}",
    "{alu} {r}, dword ptr [{p} + {o}]", "{alu} dword ptr [{p} + {o}], {s}", "{alu} byte ptr [{p} + {o}], {b}",
    "{un} {r}", "{un} {b}", "{un} dword ptr [{p} + {o}]",
    "{sh} {r}, {k}", "{sh} {r}, cl", "{sh} {b}, {k}", "{sh} {w}, cl",
    "imul {r}, {s}", "imul {r}, {s}, {i}", "mul {s}", "imul {s}",
    "shld {r}, {s}, {k}", "shrd {r}, {s}, cl", "bt {r}, {s}", "bts {r}, {k}", "bsf {r}, {s}", "bsr {r}, {s}",
    "set{c} {b}", "cmov{c} {r}, {s}", "bswap {r}", "xchg {r}, {s}", "xadd {r}, {s}",
    "mov {r}, dword ptr [{p} + {o}]", "mov dword ptr [{p} + {o}], {s}", "movzx {r}, {b}", "movsx {r}, {w}",
    "lea {r}, [{s} + {s}*4 + {i}]", "push {s}\npop {r}", "cmpxchg {r}, {s}",
    "j{c} skip\n{alu} {r}, {s}\nskip:", "{simple}",
)


@dataclass
class Program:
    code: bytes
    text: str
    parts: tuple = ()          # the instructions' bytes, one entry per line of `text`


def _fill(rng, shape):
    pick = rng.choice
    return shape.format(
        alu=pick(ALU), un=pick(UNARY), sh=pick(SHIFT), simple=pick(SIMPLE), c=pick(CC),
        r=pick(("eax", "ebx", "ecx", "edx")), s=pick(R32), p=pick(POINTER), b=pick(R8), w=pick(R16),
        i=pick((rng.randrange(-128, 128), rng.randrange(1 << 32) - (1 << 31), 0x7FFFFFFF, -1, 0)),
        k=rng.randrange(0, 32), o=4 * rng.randrange(0, 64))


_DECODER = Decoder(PhysicalMemory(4096))


def _is_x87(insn):
    """x87 forms are left out: Unicorn's x87 is not an exact oracle (tests/x86/test_x87.py lists
    where it is wrong); they are checked against the host CPU instead (test_x87_host.py)."""
    return insn.spec.sem is not None and insn.spec.sem.__module__.endswith(".x87")


def random_encoding(rng, tries=64):
    """(bytes, text) of one instruction from random bytes: a form vmm translates as-is
    (IDENT) that does not transfer control and is not x87; None if none was found in `tries`
    draws."""
    for _ in range(tries):
        raw = rng.randbytes(15)
        if rng.random() < 0.5:
            raw = bytes([rng.choice((0x66, 0xF2, 0xF3, 0x0F))]) + raw[:14]
        insn = _DECODER.from_bytes(CODE, raw)
        if insn.spec.cls == IDENT and not insn.spec.ends_block and not _is_x87(insn):
            return insn.raw, insn.text()
    return None


def random_program(rng, length=None, raw_share=0.3):
    """1-12 instructions, each a filled SHAPE or (raw_share of them) a random encoding."""
    parts, lines = [], []
    for _ in range(length or rng.randrange(1, 13)):
        found = random_encoding(rng) if rng.random() < raw_share else None
        if found is not None:
            parts.append(("raw", found[0]))
            lines.append(f"{found[1]}    ; raw {found[0].hex()}")
        else:
            asm = _fill(rng, rng.choice(SHAPES))
            parts.append(("asm", asm))
            lines.append(asm.replace("\n", "; "))
    encoded = tuple(part if kind == "raw" else assemble(part) for kind, part in parts)   # position-independent
    return Program(b"".join(encoded), "\n".join(lines), encoded)


def random_registers(rng):
    """Initial GPRs: pointers into the data region, the rest random or interesting values."""
    interesting = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
    regs = {}
    for name in GPRS:
        if name == "esp":
            regs[name] = STACK_TOP
        elif name in POINTERS:
            regs[name] = POINTERS[name] + 4 * rng.randrange(-16, 16)
        else:
            regs[name] = rng.choice(interesting) if rng.random() < 0.3 else rng.randrange(1 << 32)
    return regs
