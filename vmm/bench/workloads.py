"""Benchmark workloads: the integer benchmark guest at several sizes, and nanobenchmarks in
the spirit of Adams & Agesen (ASPLOS 2006), one per rewrite class.

Each nanobenchmark is a flat 32-bit program loaded at 0x1000 that repeats one operation
`n` times (ECX counts) and ends with `cli; hlt`; its cost per iteration is what a user
compares between engines.  Keystone assembles them.

Example:
    w = MICRO["callret"]; code = w.assemble(1000)
"""

from dataclasses import dataclass
from pathlib import Path

from keystone import Ks, KS_ARCH_X86, KS_MODE_32

ORIGIN = 0x1000
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BENCH_IMAGE = EXAMPLES / "images" / "bench.elf"
HELLO_IMAGE = EXAMPLES / "images" / "hello.elf"          # start-up: the smallest guest

_GDT_IDT = """
setup:
    lgdt [gdtr]
    lidt [idtr]
    jmp start
.align 8
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
gdtr:
    .word 23
    .long gdt
idtr:
    .word 7
    .long idt
.align 8
idt:
    .word de_handler
    .word 8
    .word 0x8e00
    .word 0
de_handler:
    add dword ptr [esp], 2
    iretd
start:
"""


@dataclass(frozen=True)
class Micro:
    name: str
    rewrite: str            # the rewrite class the loop body exercises
    body: str               # one iteration (ECX is the loop counter: keep it)
    prologue: str = ""
    share: float = 1.0      # this workload runs share * n iterations (monitor exits are slow)

    def source(self, n):
        return (f"{self.prologue}\n    mov ecx, {n}\n    mov esp, 0x80000\nloop_top:\n{self.body}\n"
                f"    dec ecx\n    jnz loop_top\n    cli\n    hlt\n")

    def assemble(self, n):
        encoding, _ = Ks(KS_ARCH_X86, KS_MODE_32).asm(self.source(n), ORIGIN)
        return bytes(encoding)


MICRO = {m.name: m for m in (
    Micro("callret", "IDENT", "    call fn\n    jmp next\nfn:\n    ret\nnext:"),
    Micro("cli_sti", "INLINE", "    cli\n    sti"),
    Micro("port_in", "CALLOUT", "    in al, 0x80", share=0.02),
    Micro("div0", "CALLOUT (#DE via IDT)", "    xor ebx, ebx\n    div ebx", prologue=_GDT_IDT, share=0.005),
    Micro("smc_store", "SMC invalidation", "    mov byte ptr [patch + 1], cl\npatch:\n    mov al, 0", share=0.002),
)}


@dataclass(frozen=True)
class GuestRun:
    """The integer benchmark guest with an iteration count on its command line."""
    iters: int

    @property
    def cmdline(self):
        return f"iters={self.iters}"
