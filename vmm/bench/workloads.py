"""Benchmark workloads: the integer benchmark guest at several sizes, and nanobenchmarks in
the spirit of Adams & Agesen (ASPLOS 2006), one per rewrite class.

Each nanobenchmark is a flat 32-bit program loaded at 0x1000 that repeats one operation
`n` times (ECX counts) and ends with `cli; hlt` (HALT); its cost per iteration is what a user
compares between engines.  Keystone assembles them.  A wrapper may add its own set-up before
the prologue and its own end after the loop, the loop itself unchanged: qemu_image does, for
qemu-system-i386, which `hlt` would never end.

The full-system ones (page fault, int 0x80, sysenter, timer interrupt, CR3 switch, TLB
miss) run with paging on and an IDT; `tlb_miss` minus `cr3_switch` is the cost of 8 misses.

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


# The full-system prologue: a GDT with ring-0 and ring-3 segments and a TSS, an IDT built at
# run time (#GP halts the machine, #PF skips a 5-byte `mov eax, [imm32]`, int 0x80 and the
# timer's vector 0x20 return at once), SYSENTER MSRs, and paging on: the first 2 MiB
# identity-mapped with 4 KiB user pages (page directory 0x100000, page table 0x101000).
# A workload that sets USER_MODE continues at `start` in ring 3 (IOPL 3, so its final cli is
# allowed and its hlt raises #GP, whose handler halts).
_SYSTEM = """
setup:
    lgdt [gdtr]
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x90000
    mov dword ptr [0x5004], 0x90000      ; TSS.ESP0
    mov dword ptr [0x5008], 0x10         ; TSS.SS0
    mov ax, 0x28
    ltr ax
    mov ebx, 13
    mov eax, gp_handler
    call set_gate
    mov ebx, 14
    mov eax, pf_handler
    call set_gate
    mov ebx, 0x20
    mov eax, tick_handler
    call set_gate
    mov ebx, 0x80
    mov eax, iret_handler
    call set_gate
    lidt [idtr]
    mov ecx, 0x174
    xor edx, edx
    mov eax, 0x08
    wrmsr
    inc ecx
    mov eax, 0x8f000
    wrmsr
    inc ecx
    mov eax, sysenter_handler
    wrmsr
    mov edi, 0x101000
    mov eax, 7
    mov ecx, 512
fill_pt:
    stosd
    add eax, 0x1000
    loop fill_pt
    mov dword ptr [0x100000], 0x101007
    mov eax, 0x100000
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    jmp to_start
set_gate:                                ; IDT entry ebx -> handler eax, DPL 3 interrupt gate
    mov word ptr [0x3000 + ebx*8], ax
    mov word ptr [0x3002 + ebx*8], 0x08
    mov word ptr [0x3004 + ebx*8], 0xee00
    shr eax, 16
    mov word ptr [0x3006 + ebx*8], ax
    ret
gp_handler:
    cli
    hlt
pf_handler:
    add esp, 4
    add dword ptr [esp], 5
    iretd
tick_handler:
    push eax
    mov al, 0x20
    out 0x20, al
    pop eax
iret_handler:
    iretd
sysenter_handler:
    sysexit
.align 8
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
    .quad 0x00cffa000000ffff
    .quad 0x00cff2000000ffff
    .quad 0x0000890050000067
gdtr:
    .word 47
    .long gdt
idtr:
    .word 0x7ff
    .long 0x3000
to_start:
"""
USER_MODE = """
    push 0x23
    push 0x80000
    push 0x3202
    push 0x1b
    mov eax, start
    push eax
    iretd
start:
"""
_PIT_TICKS = """
    mov al, 0x11
    out 0x20, al
    mov al, 0x20
    out 0x21, al
    mov al, 4
    out 0x21, al
    mov al, 1
    out 0x21, al
    mov al, 0xfe
    out 0x21, al                         ; IRQ 0 only, at vector 0x20
    mov al, 0x34
    out 0x43, al                         ; PIT channel 0, mode 2
    mov al, 100
    out 0x40, al
    xor al, al
    out 0x40, al                         ; every 100 PIT clocks (84 us)
    sti
"""


HALT = "    cli\n    hlt\n"               # how a nanobenchmark ends on vmm and Unicorn


@dataclass(frozen=True)
class Micro:
    name: str
    rewrite: str            # the rewrite class the loop body exercises
    body: str               # one iteration (ECX is the loop counter: keep it)
    prologue: str = ""
    share: float = 1.0      # this workload runs share * n iterations (monitor exits are slow)
    unicorn: bool = True    # Unicorn can run it (it gives exceptions to hooks, not the IDT)

    def source(self, n, start="", end=HALT):
        """The program: `start` (a wrapper's own set-up), the prologue, the loop, `end`."""
        stack = "" if USER_MODE in self.prologue else "    mov esp, 0x80000\n"
        return (f"{start}{self.prologue}\n    mov ecx, {n}\n{stack}loop_top:\n{self.body}\n"
                f"    dec ecx\n    jnz loop_top\n{end}")

    def assemble(self, n, start="", end=HALT):
        source = "\n".join(line.split(";")[0] for line in self.source(n, start, end).splitlines())  # Keystone has no comments
        encoding, _ = Ks(KS_ARCH_X86, KS_MODE_32).asm(source, ORIGIN)
        return bytes(encoding)


MICRO = {m.name: m for m in (
    Micro("callret", "IDENT", "    call fn\n    jmp next\nfn:\n    ret\nnext:"),
    Micro("cli_sti", "INLINE", "    cli\n    sti"),
    Micro("port_in", "CALLOUT", "    in al, 0x80", share=0.02),
    Micro("div0", "CALLOUT (#DE via IDT)", "    xor ebx, ebx\n    div ebx", prologue=_GDT_IDT, share=0.005,
          unicorn=False),
    Micro("smc_store", "SMC invalidation", "    mov byte ptr [patch + 1], cl\npatch:\n    mov al, 0", share=0.002),
    Micro("page_fault", "#PF via IDT (paging)", "    mov eax, [0x300000]", prologue=_SYSTEM,
          share=0.002, unicorn=False),
    Micro("int80", "int 0x80 via IDT", "    int 0x80", prologue=_SYSTEM, share=0.005, unicorn=False),
    Micro("sysenter", "sysenter/sysexit from ring 3",
          "    push ecx\n    mov ecx, esp\n    mov edx, back\n    sysenter\nback:\n    pop ecx",
          prologue=_SYSTEM + USER_MODE, share=0.005, unicorn=False),
    Micro("timer_irq", "PIT IRQ 0 wakes hlt", "    hlt", prologue=_SYSTEM + _PIT_TICKS, share=0.002,
          unicorn=False),
    Micro("cr3_switch", "mov cr3 (TLB flush)", "    mov cr3, eax", prologue=_SYSTEM + "    mov eax, cr3",
          share=0.005, unicorn=False),
    Micro("tlb_miss", "mov cr3 + 8 TLB misses", "    mov cr3, eax\n" + "".join(
          f"    mov ebx, [{0x10000 + 0x1000 * k:#x}]\n" for k in range(8)),
          prologue=_SYSTEM + "    mov eax, cr3", share=0.005, unicorn=False),
)}


@dataclass(frozen=True)
class GuestRun:
    """The integer benchmark guest with an iteration count on its command line."""
    iters: int

    @property
    def cmdline(self):
        return f"iters={self.iters}"
