"""The callout registry: every privileged or sensitive instruction, by name, in one place.

Each `Callout` says how the instruction is handled and why:
  INLINE   only virtual CPU state is touched; its semantics (a builder
           function) run in place, in translated code as in the interpreter.
  CALLOUT  the monitor must act (devices, descriptor tables, CPU mode, time
           stops, interrupts); `handler(machine, b, insn)` runs in Python on
           concrete state, for both engines.  `b` is the interpreter builder,
           so handlers reuse the shared operand and stack helpers.
`reads`/`writes` name the state an entry touches and `ends_block` whether
translated code must stop after it (new CPU mode, IF change, control flow).

Example:
    REGISTRY["out"].cls         # -> "CALLOUT"
    REGISTRY["cli"].reason      # -> "clears virtual EFLAGS.IF; no monitor work"
"""

from dataclasses import dataclass
from typing import Callable

from ..errors import GuestFault, GuestStop
from . import cpuid as cpuid_model
from .exceptions import BP, DB, GP, OF
from .interrupts import deliver
from .operands import address, read, write
from .segments import load_segment
from .semantics import flagops, stack, system
from .state import CS, EAX, ECX, EDX, EDI, ESI, ES, CR0_PG, EFLAGS_WRITABLE

INLINE, CALLOUT = "INLINE", "CALLOUT"


@dataclass(frozen=True)
class Callout:
    name: str
    cls: str
    handler: Callable
    reads: str
    writes: str
    ends_block: bool
    reason: str


# ---- handlers ------------------------------------------------------------------------------
def hlt(m, b, i):
    m.halt()


def _port(b, op):
    return read(b, op) if op.kind != "imm" else op.value & 0xFF


def io_in(m, b, i):
    dst, port = i.ops
    write(b, dst, m.port_read(_port(b, port), dst.w // 8))


def io_out(m, b, i):
    port, src = i.ops
    m.port_write(_port(b, port), src.w // 8, read(b, src))


def _string_io(m, b, i, step):
    """ins/outs, with rep done in one callout (all iterations: ports have no page faults)."""
    count = b.reg(ECX, 32, 0) if (i.rep or i.repne) else 1
    port = b.reg(EDX, 16, 0)
    size = next(op.w for op in i.ops if op.kind == "mem") // 8     # ops[0] is DX for outs
    for _ in range(count):
        step(port, size)
    if i.rep or i.repne:
        b.set_reg(ECX, 0, 32, 0)


def ins(m, b, i):
    def step(port, size):
        edi = b.reg(EDI, 32, 0)
        b.store(b.seg_base(ES) + edi & 0xFFFFFFFF, m.port_read(port, size), size * 8)
        b.set_reg(EDI, (edi + (-size if b.flag("DF") else size)) & 0xFFFFFFFF, 32, 0)
    _string_io(m, b, i, step)


def outs(m, b, i):
    seg = next(op.seg for op in i.ops if op.kind == "mem")

    def step(port, size):
        esi = b.reg(ESI, 32, 0)
        m.port_write(port, size, b.load(b.seg_base(seg) + esi & 0xFFFFFFFF, size * 8))
        b.set_reg(ESI, (esi + (-size if b.flag("DF") else size)) & 0xFFFFFFFF, 32, 0)
    _string_io(m, b, i, step)


def _table_register(m, b, i, which):
    addr = address(b, i.ops[0])
    limit = b.load(addr, 16)
    base = b.load(addr + 2 & 0xFFFFFFFF, 32)
    reg = getattr(m.state, which)
    reg.limit, reg.base = limit, base & (0xFFFFFF if i.opsize16 else 0xFFFFFFFF)


def lgdt(m, b, i):
    _table_register(m, b, i, "gdtr")


def lidt(m, b, i):
    _table_register(m, b, i, "idtr")


def _store_table_register(m, b, i, which):
    addr = address(b, i.ops[0])
    reg = getattr(m.state, which)
    b.store(addr, reg.limit, 16)
    b.store(addr + 2 & 0xFFFFFFFF, reg.base, 32)


def sgdt(m, b, i):
    _store_table_register(m, b, i, "gdtr")


def sidt(m, b, i):
    _store_table_register(m, b, i, "idtr")


def mov_to_cr(m, b, i):
    cr, src = i.ops
    value = read(b, src)
    if cr.index == 0 and value & CR0_PG:
        raise GuestStop(f"the guest enables paging (mov cr0, {value:#x}) at eip={i.address:#010x}; "
                        "the paging unit is not implemented yet")
    m.state.cr[cr.index] = value
    m.invalidate_translations()


def mov_to_seg(m, b, i):
    seg, src = i.ops
    load_segment(m, seg.index, read(b, src))


def pop_seg(m, b, i):
    value, esp = stack.pop_value(b, 16 if i.opsize16 else 32)
    load_segment(m, i.ops[0].index, value & 0xFFFF)
    b.set_reg(4, esp, 32, 0)


def ljmp(m, b, i):
    if len(i.ops) == 2:                                  # ljmp imm16:imm32
        selector, offset = i.ops[0].value, i.ops[1].value
    else:                                                # ljmp m16:32
        addr = address(b, i.ops[0])
        offset, selector = b.load(addr, 32), b.load(addr + 4 & 0xFFFFFFFF, 16)
    load_segment(m, CS, selector & 0xFFFF)
    b.jump(offset & 0xFFFFFFFF)


def iret(m, b, i):
    eip, esp = stack.pop_value(b, 32)
    b.set_reg(4, esp, 32, 0)
    cs, esp = stack.pop_value(b, 32)
    b.set_reg(4, esp, 32, 0)
    flags, esp = stack.pop_value(b, 32)
    load_segment(m, CS, cs & 0xFFFF)
    b.set_reg(4, esp, 32, 0)
    b.set_eflags(flags, EFLAGS_WRITABLE)
    b.jump(eip)


def cpuid(m, b, i):
    eax, ebx, ecx, edx = cpuid_model.cpuid(b.reg(EAX, 32, 0), b.reg(ECX, 32, 0))
    for index, value in ((EAX, eax), (3, ebx), (ECX, ecx), (EDX, edx)):
        b.set_reg(index, value, 32, 0)


def rdmsr(m, b, i):
    index = b.reg(ECX, 32, 0)
    if not m.msrs.known(index):
        raise GuestFault(GP, 0, f"rdmsr of unknown MSR {index:#x}")
    value = m.msrs.read(index)
    b.set_reg(EAX, value & 0xFFFFFFFF, 32, 0)
    b.set_reg(EDX, value >> 32, 32, 0)


def wrmsr(m, b, i):
    index = b.reg(ECX, 32, 0)
    if not m.msrs.known(index):
        raise GuestFault(GP, 0, f"wrmsr of unknown MSR {index:#x}")
    m.msrs.write(index, (b.reg(EDX, 32, 0) << 32) | b.reg(EAX, 32, 0))


def int_n(m, b, i):
    deliver(m, i.ops[0].value & 0xFF, None, i.next, "int instruction")
    b.jump(m.state.eip)


def int3(m, b, i):
    deliver(m, BP, None, i.next, "int3")
    b.jump(m.state.eip)


def int1(m, b, i):
    """icebp (0xF1): a #DB trap through IDT vector 1; the frame saves the next EIP."""
    deliver(m, DB, None, i.next, "int1")
    b.jump(m.state.eip)


def into(m, b, i):
    if b.flag("OF"):
        deliver(m, OF, None, i.next, "into")
        b.jump(m.state.eip)


def no_op(m, b, i):
    """invlpg, wbinvd, invd: no TLB or caches are modelled yet, so there is nothing to drop."""


def clts(m, b, i):
    m.state.cr[0] &= ~8 & 0xFFFFFFFF


def _entries():
    C, I = CALLOUT, INLINE
    return [
        Callout("cli", I, flagops.cli, "", "eflags.IF", False, "clears virtual EFLAGS.IF; no monitor work"),
        Callout("sti", I, flagops.sti, "", "eflags.IF", True,
                "sets virtual EFLAGS.IF; ends the block so a pending interrupt is seen"),
        Callout("pushf", I, stack.pushf, "eflags", "stack", False, "pushes the virtual EFLAGS image"),
        Callout("popf", I, stack.popf, "stack", "eflags", True,
                "loads virtual EFLAGS (IF, DF...); ends the block: IF may open an interrupt window"),
        Callout("lahf", I, flagops.lahf, "eflags", "ah", False, "reads virtual flags only"),
        Callout("sahf", I, flagops.sahf, "ah", "eflags", False, "writes virtual flags only"),
        Callout("mov_from_cr", I, system.mov_from_cr, "cr", "gpr", False, "reads the virtual CRn"),
        Callout("rdtsc", I, system.rdtsc, "tsc, icount", "eax, edx", False,
                "virtual time is state: TSC offset + instructions retired"),
        Callout("hlt", C, hlt, "eflags.IF", "run state", True, "the CPU waits: the monitor decides what happens"),
        Callout("in", C, io_in, "port", "gpr", True, "port I/O reaches a device model"),
        Callout("out", C, io_out, "gpr", "port", True, "port I/O reaches a device model"),
        Callout("ins", C, ins, "port, edi, ecx", "memory, edi, ecx", True, "port I/O reaches a device model"),
        Callout("outs", C, outs, "memory, esi, ecx", "port, esi, ecx", True, "port I/O reaches a device model"),
        Callout("lgdt", C, lgdt, "memory", "gdtr", True, "descriptor tables change how segments load"),
        Callout("lidt", C, lidt, "memory", "idtr", True, "the IDT decides how exceptions are delivered"),
        Callout("sgdt", C, sgdt, "gdtr", "memory", False,
                "sensitive: must show the guest's GDTR, not the host's (the classic x86 virtualization hole)"),
        Callout("sidt", C, sidt, "idtr", "memory", False, "sensitive: must show the guest's IDTR"),
        Callout("mov_to_cr", C, mov_to_cr, "gpr", "cr", True, "CR0/CR3/CR4 change the CPU mode and translations"),
        Callout("mov_to_seg", C, mov_to_seg, "gpr, gdt", "segment cache", True,
                "loads a descriptor from the GDT into the hidden segment cache"),
        Callout("pop_seg", C, pop_seg, "stack, gdt", "segment cache, esp", True,
                "loads a descriptor from the GDT into the hidden segment cache"),
        Callout("ljmp", C, ljmp, "gdt", "cs, eip", True, "reloads CS from the GDT"),
        Callout("iret", C, iret, "stack, gdt", "cs, eip, eflags", True, "returns from an interrupt: CS and EFLAGS reload"),
        Callout("cpuid", C, cpuid, "eax, ecx", "eax, ebx, ecx, edx", False, "the monitor owns the CPU model"),
        Callout("rdmsr", C, rdmsr, "ecx, msrs", "eax, edx", False, "MSRs live in the monitor"),
        Callout("wrmsr", C, wrmsr, "ecx, eax, edx", "msrs", True, "MSRs live in the monitor"),
        Callout("int", C, int_n, "idt", "stack, cs, eip, eflags", True, "software interrupt through the guest IDT"),
        Callout("int3", C, int3, "idt", "stack, cs, eip, eflags", True, "breakpoint through the guest IDT"),
        Callout("int1", C, int1, "idt", "stack, cs, eip, eflags", True, "icebp: debug trap through the guest IDT"),
        Callout("into", C, into, "eflags.OF, idt", "stack, cs, eip, eflags", True, "overflow trap through the guest IDT"),
        Callout("invlpg", C, no_op, "", "tlb", True, "TLB maintenance belongs to the monitor"),
        Callout("wbinvd", C, no_op, "", "", False, "cache maintenance: nothing is cached, nothing to do"),
        Callout("invd", C, no_op, "", "", False, "cache maintenance: nothing is cached, nothing to do"),
        Callout("clts", C, clts, "cr0", "cr0.TS", False, "CR0 belongs to the monitor"),
    ]


REGISTRY = {entry.name: entry for entry in _entries()}
