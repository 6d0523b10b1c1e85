"""The callout registry: every privileged or sensitive instruction, by name, in one place.

Each `Callout` says how the instruction is handled and why:
  INLINE   only virtual CPU state is touched; its semantics (a builder
           function) run in place, in translated code as in the interpreter.
  CALLOUT  the monitor must act (devices, descriptor tables, CPU mode, time
           stops, interrupts); `handler(machine, b, insn)` runs in Python on
           concrete state, for both engines.  `b` is the interpreter builder,
           so handlers reuse the shared operand and stack helpers.
`fast` gives a callout a fast path in translated code: a native function for the common
case (int n, int3, iret, sysenter, sysexit: vmm.translator.fastpath), or MONITOR_CALL
(in, out, ins, outs, hlt, invlpg, mov cr3, data segment loads): the block calls the monitor, which runs this same
handler and lets the block go on, instead of the block ending before the instruction
(vmm.translator.monitorcall).
`reads`/`writes` name the state an entry touches and `ends_block` whether
translated code must stop after it (new CPU mode, IF change, control flow).
`cpl0` marks ring-0-only instructions: the registry wraps their handler in
the one CPL check (vmm.x86.protection.require_cpl0, #GP(0) from CPL > 0),
so every engine and the INLINE path run it, and the reason says so.

Example:
    REGISTRY["out"].cls         # -> "CALLOUT"
    REGISTRY["cli"].reason      # -> "clears virtual EFLAGS.IF; no monitor work"
"""

from dataclasses import dataclass
from typing import Callable, Optional

from dataclasses import replace

from ..errors import GuestFault
from . import cpuid as cpuid_model, far, probes, sysenter as fast_calls, tss
from .exceptions import BP, DB, GP, OF
from .interrupts import deliver
from .operands import address, effective_address, linear, read, write
from .protection import current_cpl, current_iopl, require_cpl0
from .segments import load_segment
from .semantics import flagops, stack, system
from .mmu import CR0_WP, CR4_PGE, CR4_PSE
from .state import EAX, ECX, EDX, EDI, ESI, ES, SS, DS, FS, GS, CR0_PE, CR0_PG

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
    cpl0: bool = False
    fast: Optional[Callable] = None    # insn -> (fast path, its arguments) or None: translated code
                                       # runs the common case natively (vmm.translator.fastpath) or
                                       # calls the monitor for it (MONITOR_CALL)


# ---- handlers ------------------------------------------------------------------------------
def hlt(m, b, i):
    m.halt()


def _port(m, b, op, size):
    """The port of in/out, checked: from CPL > IOPL the TSS I/O bitmap must allow it."""
    port = read(b, op) if op.kind != "imm" else op.value & 0xFF
    _check_io(m, port, size)
    return port


def _check_io(m, port, size):
    if m.state.cr[0] & CR0_PE and current_cpl(m) > current_iopl(m) and not tss.io_allowed(m, port, size):
        raise GuestFault(GP, 0, f"port {port:#x} at CPL {current_cpl(m)} > IOPL, not allowed by the I/O bitmap")


def io_in(m, b, i):
    dst, port = i.ops
    write(b, dst, m.port_read(_port(m, b, port, dst.w // 8), dst.w // 8))


def io_out(m, b, i):
    port, src = i.ops
    m.port_write(_port(m, b, port, src.w // 8), src.w // 8, read(b, src))


def _string_io(m, b, i, step):
    """ins/outs: one transfer per execution.  Under rep, EIP stays on the instruction until
    ECX (CX with 0x67) reaches 0, so every iteration retires as one instruction and a run can
    stop between them, as the memory string ops (semantics/string.py) and hardware do."""
    rep = i.rep or i.repne
    aw = 16 if i.addr16 else 32
    count = b.reg(ECX, aw, 0)
    if rep and count == 0:
        return
    size = next(op.w for op in i.ops if op.kind == "mem") // 8     # ops[0] is DX for outs
    port = b.reg(EDX, 16, 0)
    _check_io(m, port, size)
    step(port, size)
    if rep:
        left = (count - 1) & ((1 << aw) - 1)
        b.set_reg(ECX, left, aw, 0)
        if left:
            b.jump(i.address)


def ins(m, b, i):
    def step(port, size):
        edi = b.reg(EDI, 32, 0)
        b.store(linear(b, ES, edi, size * 8, write=True), m.port_read(port, size), size * 8)
        b.set_reg(EDI, (edi + (-size if b.flag("DF") else size)) & 0xFFFFFFFF, 32, 0)
    _string_io(m, b, i, step)


def outs(m, b, i):
    seg = next(op.seg for op in i.ops if op.kind == "mem")

    def step(port, size):
        esi = b.reg(ESI, 32, 0)
        m.port_write(port, size, b.load(linear(b, seg, esi, size * 8), size * 8))
        b.set_reg(ESI, (esi + (-size if b.flag("DF") else size)) & 0xFFFFFFFF, 32, 0)
    _string_io(m, b, i, step)


TABLE_IMAGE = 48                     # lgdt/lidt/sgdt/sidt: a 16-bit limit and a 32-bit base


def _table_register(m, b, i, which):
    addr = address(b, i.ops[0], w=TABLE_IMAGE)
    limit = b.load(addr, 16)
    base = b.load(addr + 2 & 0xFFFFFFFF, 32)
    reg = getattr(m.state, which)
    reg.limit, reg.base = limit, base & (0xFFFFFF if i.opsize16 else 0xFFFFFFFF)


def lgdt(m, b, i):
    _table_register(m, b, i, "gdtr")


def lidt(m, b, i):
    _table_register(m, b, i, "idtr")


def _store_table_register(m, b, i, which):
    addr = address(b, i.ops[0], write=True, w=TABLE_IMAGE)
    reg = getattr(m.state, which)
    b.store(addr, reg.limit, 16)
    b.store(addr + 2 & 0xFFFFFFFF, reg.base, 32)


def sgdt(m, b, i):
    _store_table_register(m, b, i, "gdtr")


def sidt(m, b, i):
    _store_table_register(m, b, i, "idtr")


# CR bits whose change alters how linear addresses translate (PG, WP / PSE, PGE).
_CR_PAGING_BITS = {0: CR0_PG | CR0_WP | CR0_PE, 4: CR4_PSE | CR4_PGE}


def mov_to_cr(m, b, i):
    cr, src = i.ops
    value = read(b, src)
    if cr.index == 0 and value & CR0_PG and not value & CR0_PE:
        raise GuestFault(GP, 0, "CR0.PG without CR0.PE")
    old = m.state.cr[cr.index]
    m.state.cr[cr.index] = value
    if cr.index == 3:
        m.mappings_changed(keep_global=bool(m.state.cr[4] & CR4_PGE))
    elif (old ^ value) & _CR_PAGING_BITS.get(cr.index, 0):
        m.mappings_changed()


# The always-one bits of DR6 and DR7 (what they read after reset); DR4/DR5 alias DR6/DR7
# while CR4.DE is clear, and this CPU model has no DE.
DR_ONES = {6: 0xFFFF0FF0, 7: 0x400}


def mov_to_dr(m, b, i):
    """Keeps the value: a guest (Linux clears all eight at boot) reads back what it wrote.
    Breakpoints in DR7 are not armed; vmm's own debugging is the gdb stub's."""
    dr, src = i.ops
    n = _dr_number(dr)
    m.state.dr[n] = read(b, src) | DR_ONES.get(n, 0)


def mov_from_dr(m, b, i):
    dst, dr = i.ops
    n = _dr_number(dr)
    write(b, dst, m.state.dr[n] | DR_ONES.get(n, 0))


def _dr_number(dr):
    """The debug register an operand names: DR4 and DR5 are DR6 and DR7."""
    return dr.index | 2 if dr.index in (4, 5) else dr.index


def invlpg(m, b, i):
    """The page of the operand's linear address, which is not checked against the segment
    (the SDM lists no #GP/#SS for invlpg: nothing is accessed)."""
    op = i.ops[0]
    m.mappings_changed(page=b.add(b.seg_base(op.seg), effective_address(b, op), 32))


def _ss_shadow(m, seg):
    """mov ss / pop ss: no interrupt before the next instruction (which sets ESP)."""
    if seg == SS:
        m.state.int_shadow = m.state.icount + 1


def mov_to_seg(m, b, i):
    seg, src = i.ops
    load_segment(m, seg.index, read(b, src))
    _ss_shadow(m, seg.index)


def pop_seg(m, b, i):
    value, esp = stack.pop_value(b, 16 if i.opsize16 else 32)
    load_segment(m, i.ops[0].index, value & 0xFFFF)
    b.set_reg(4, esp, 32, 0)
    _ss_shadow(m, i.ops[0].index)


def load_far_pointer(m, b, i):
    """lds les lfs lgs lss: the segment is loaded (and may fault) before the register."""
    dst, src = i.ops
    addr = address(b, src, w=dst.w + 16)
    offset, selector = b.load(addr, dst.w), b.load(addr + dst.w // 8 & 0xFFFFFFFF, 16)
    load_segment(m, _FAR_POINTER_SEGMENT[i.mnemonic], selector)
    write(b, dst, offset)


_FAR_POINTER_SEGMENT = {"les": ES, "lds": DS, "lss": SS, "lfs": FS, "lgs": GS}


def _far_operand(b, i):
    """(selector, offset, width) of ptr16:16/32 or of the m16:16/32 pointer in memory."""
    w = 16 if i.opsize16 else 32
    if i.ops[0].kind == "imm":
        return i.ops[0].value & 0xFFFF, i.ops[1].value & ((1 << w) - 1), w
    addr = address(b, i.ops[0], w=w + 16)
    return b.load(addr + w // 8 & 0xFFFFFFFF, 16), b.load(addr, w), w


def ljmp(m, b, i):
    selector, offset, w = _far_operand(b, i)
    b.jump(far.transfer_far(m, "jmp", selector, offset, w, i.next))


def lcall(m, b, i):
    selector, offset, w = _far_operand(b, i)
    b.jump(far.transfer_far(m, "call", selector, offset, w, i.next))


def retf(m, b, i):
    release = i.ops[0].value & 0xFFFF if i.ops else 0
    b.jump(far.return_far(m, 16 if i.opsize16 else 32, release))


def iret(m, b, i):
    b.jump(far.return_far(m, 16 if i.opsize16 else 32, iret=True, next_eip=i.next))


def ltr(m, b, i):
    tss.ltr(m, read(b, i.ops[0]) & 0xFFFF)


def lldt(m, b, i):
    tss.lldt(m, read(b, i.ops[0]) & 0xFFFF)


def str_(m, b, i):                   # a register gets the selector zero-extended, memory 16 bits
    write(b, i.ops[0], m.state.tr.selector & 0xFFFF)


def sldt(m, b, i):
    write(b, i.ops[0], m.state.ldtr.selector & 0xFFFF)


def lmsw(m, b, i):
    """CR0 bits 0-3 (PE MP EM TS) <- the operand; PE can be set but not cleared."""
    cr0 = m.state.cr[0]
    new = (cr0 & ~0xF) | (read(b, i.ops[0]) & 0xF) | (cr0 & CR0_PE)
    m.state.cr[0] = new
    if (new ^ cr0) & CR0_PE:
        m.invalidate_translations()


def sysenter(m, b, i):
    b.jump(fast_calls.sysenter(m))


def sysexit(m, b, i):
    b.jump(fast_calls.sysexit(m))


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
    if not m.msrs.known(index, write=True):
        raise GuestFault(GP, 0, f"wrmsr of unknown or read-only MSR {index:#x}")
    m.msrs.write(index, (b.reg(EDX, 32, 0) << 32) | b.reg(EAX, 32, 0))


def _software_interrupt(m, b, vector, i, detail):
    """int n, int3, into: the handler returns to the next instruction (the gate's DPL is
    checked against the CPL: software=True)."""
    if m.trace is not None:
        m.trace.interrupt(vector, None, i.address, detail)
    deliver(m, vector, None, i.next, detail, software=True)
    b.jump(m.state.eip)


MONITOR_CALL = "monitor_call"


def _monitor_call(i):
    """Port I/O, hlt, invlpg, CR3 and data segment loads in translated code: the block calls
    the monitor, which runs the handler without the block leaving
    (vmm.translator.monitorcall); the instruction's bytes (up to 8, in two words) identify it
    there."""
    if len(i.raw) > 8:
        return None
    raw = int.from_bytes(i.raw, "little")
    return MONITOR_CALL, (raw & 0xFFFFFFFF, raw >> 32, len(i.raw))


def _monitor_call_cr3(i):
    """mov cr3 only changes mappings; CR0 and CR4 writes change the CPU mode and still exit."""
    return _monitor_call(i) if i.ops[0].index == 3 else None


def _monitor_call_data_segment(i):
    """DS, ES, FS and GS loads: the dispatcher's lookup reads the segment-check bits they
    change (vmm.x86.mode); SS (its interrupt shadow) still exits."""
    return _monitor_call(i) if i.ops[0].index in (DS, ES, FS, GS) else None


def _fast_interrupt(vector, i):
    """int n / int3 in translated code: the native delivery (error code none, software)."""
    return "fast_deliver", (vector, 0, 0, i.next, 1)


def int_n(m, b, i):
    _software_interrupt(m, b, i.ops[0].value & 0xFF, i, "int instruction")


def int3(m, b, i):
    _software_interrupt(m, b, BP, i, "int3")


def int1(m, b, i):
    """icebp (0xF1): a #DB trap through IDT vector 1 (no gate DPL check: it is not INT n)."""
    if m.trace is not None:
        m.trace.interrupt(DB, None, i.address, "int1")
    deliver(m, DB, None, i.next, "int1")
    b.jump(m.state.eip)


def into(m, b, i):
    if b.flag("OF"):
        _software_interrupt(m, b, OF, i, "into")


def no_op(m, b, i):
    """wbinvd, invd: no caches are modelled, so there is nothing to drop."""


def clts(m, b, i):
    m.state.cr[0] &= ~8 & 0xFFFFFFFF


def _entries():
    C, I = CALLOUT, INLINE
    SEG = "loads a descriptor (GDT/LDT) into the hidden segment cache, with the protection checks"
    return [
        Callout("cli", I, flagops.cli, "eflags.IOPL, cs", "eflags.IF", False,
                "clears virtual EFLAGS.IF; no monitor work (#GP(0) if CPL > IOPL)"),
        Callout("sti", I, flagops.sti, "eflags.IOPL, cs", "eflags.IF", True,
                "sets virtual EFLAGS.IF; ends the block so a pending interrupt is seen (#GP(0) if CPL > IOPL)"),
        Callout("pushf", I, stack.pushf, "eflags", "stack", False, "pushes the virtual EFLAGS image"),
        Callout("popf", I, stack.popf, "stack, cs", "eflags", True,
                "loads virtual EFLAGS (IF, DF...; IOPL only at CPL 0, IF only at CPL <= IOPL); "
                "ends the block: IF may open an interrupt window"),
        Callout("lahf", I, flagops.lahf, "eflags", "ah", False, "reads virtual flags only"),
        Callout("sahf", I, flagops.sahf, "ah", "eflags", False, "writes virtual flags only"),
        Callout("mov_from_cr", I, system.mov_from_cr, "cr", "gpr", False, "reads the virtual CRn", cpl0=True),
        Callout("smsw", I, system.smsw, "cr0", "gpr, memory", False, "reads the virtual CR0 (not privileged)"),
        Callout("rdtsc", I, system.rdtsc, "tsc, icount, cr4.TSD", "eax, edx", False,
                "virtual time is state: TSC offset + instructions retired (#GP(0) at CPL > 0 with CR4.TSD)"),
        Callout("hlt", C, hlt, "eflags.IF", "run state", True, "the CPU waits: the monitor decides what happens",
                cpl0=True, fast=_monitor_call),
        Callout("in", C, io_in, "port, eflags.IOPL, tss", "gpr", True,
                "port I/O reaches a device model (CPL > IOPL: the TSS I/O bitmap decides)", fast=_monitor_call),
        Callout("out", C, io_out, "gpr, eflags.IOPL, tss", "port", True,
                "port I/O reaches a device model (CPL > IOPL: the TSS I/O bitmap decides)", fast=_monitor_call),
        Callout("ins", C, ins, "port, edi, ecx", "memory, edi, ecx", True, "port I/O reaches a device model",
                fast=_monitor_call),
        Callout("outs", C, outs, "memory, esi, ecx", "port, esi, ecx", True, "port I/O reaches a device model",
                fast=_monitor_call),
        Callout("lgdt", C, lgdt, "memory", "gdtr", True, "descriptor tables change how segments load", cpl0=True),
        Callout("lidt", C, lidt, "memory", "idtr", True, "the IDT decides how exceptions are delivered", cpl0=True),
        Callout("sgdt", C, sgdt, "gdtr", "memory", False,
                "sensitive: must show the guest's GDTR, not the host's (the classic x86 virtualization hole)"),
        Callout("sidt", C, sidt, "idtr", "memory", False, "sensitive: must show the guest's IDTR"),
        Callout("lldt", C, lldt, "gdt", "ldtr", True, "the LDT decides how selectors with TI=1 load", cpl0=True),
        Callout("sldt", C, sldt, "ldtr", "gpr, memory", False, "sensitive: shows the guest's LDTR selector"),
        Callout("ltr", C, ltr, "gdt", "tr, gdt (busy bit)", True, "loads the TSS: ring stacks and the I/O bitmap",
                cpl0=True),
        Callout("str", C, str_, "tr", "gpr, memory", False, "sensitive: shows the guest's TR selector"),
        Callout("lmsw", C, lmsw, "gpr", "cr0", True, "CR0 belongs to the monitor (PE cannot be cleared)",
                cpl0=True),
        Callout("mov_to_cr", C, mov_to_cr, "gpr", "cr", True, "CR0/CR3/CR4 change the CPU mode and translations",
                cpl0=True, fast=_monitor_call_cr3),
        Callout("mov_to_dr", C, mov_to_dr, "gpr", "dr", False, "debug registers belong to the monitor",
                cpl0=True),
        Callout("mov_from_dr", C, mov_from_dr, "dr", "gpr", False, "reads the virtual DRn", cpl0=True),
        Callout("mov_to_seg", C, mov_to_seg, "gpr, gdt, ldt", "segment cache", True, SEG,
                fast=_monitor_call_data_segment),
        Callout("pop_seg", C, pop_seg, "stack, gdt, ldt", "segment cache, esp", True, SEG,
                fast=_monitor_call_data_segment),
        Callout("load_far_pointer", C, load_far_pointer, "memory, gdt, ldt", "segment cache, gpr", True, SEG),
        Callout("ljmp", C, ljmp, "gdt, ldt", "cs, eip", True, "reloads CS (code segment or call gate)"),
        Callout("lcall", C, lcall, "gdt, ldt, tss", "stack, cs, eip, ss, esp", True,
                "reloads CS (code segment or call gate; to an inner ring: TSS stack, parameter copy)"),
        Callout("retf", C, retf, "stack, gdt, ldt", "cs, eip, ss, esp", True,
                "reloads CS (and SS:ESP returning to an outer ring)"),
        Callout("iret", C, iret, "stack, gdt, ldt", "cs, eip, eflags, ss, esp", True,
                "returns from an interrupt: CS and EFLAGS reload (SS:ESP to an outer ring)",
                fast=lambda i: None if i.opsize16 else ("fast_iret", ())),
        Callout("sysenter", C, sysenter, "sysenter msrs", "cs, ss, esp, eip, eflags", True,
                "fast system call: ring 0 with flat segments from IA32_SYSENTER_CS",
                fast=lambda i: ("fast_sysenter", ())),
        Callout("sysexit", C, sysexit, "sysenter msrs, ecx, edx", "cs, ss, esp, eip", True,
                "fast return to ring 3", cpl0=True, fast=lambda i: ("fast_sysexit", ())),
        Callout("lar", C, probes.lar, "gdt, ldt", "gpr, eflags.ZF", False, "reads a descriptor's access rights"),
        Callout("lsl", C, probes.lsl, "gdt, ldt", "gpr, eflags.ZF", False, "reads a descriptor's limit"),
        Callout("verr", C, probes.verr, "gdt, ldt", "eflags.ZF", False, "checks a segment is readable"),
        Callout("verw", C, probes.verw, "gdt, ldt", "eflags.ZF", False, "checks a segment is writable"),
        Callout("cpuid", C, cpuid, "eax, ecx", "eax, ebx, ecx, edx", False, "the monitor owns the CPU model"),
        Callout("rdmsr", C, rdmsr, "ecx, msrs", "eax, edx", False, "MSRs live in the monitor", cpl0=True),
        Callout("wrmsr", C, wrmsr, "ecx, eax, edx", "msrs", True, "MSRs live in the monitor", cpl0=True),
        Callout("int", C, int_n, "idt", "stack, cs, eip, eflags", True,
                "software interrupt through the guest IDT (gate DPL >= CPL)",
                fast=lambda i: _fast_interrupt(i.ops[0].value & 0xFF, i)),
        Callout("int3", C, int3, "idt", "stack, cs, eip, eflags", True, "breakpoint through the guest IDT",
                fast=lambda i: _fast_interrupt(BP, i)),
        Callout("int1", C, int1, "idt", "stack, cs, eip, eflags", True, "icebp: debug trap through the guest IDT"),
        Callout("into", C, into, "eflags.OF, idt", "stack, cs, eip, eflags", True, "overflow trap through the guest IDT"),
        Callout("invlpg", C, invlpg, "memory operand", "tlb", True, "TLB maintenance belongs to the monitor", cpl0=True,
                fast=_monitor_call),
        Callout("wbinvd", C, no_op, "", "", False, "cache maintenance: nothing is cached, nothing to do", cpl0=True),
        Callout("invd", C, no_op, "", "", False, "cache maintenance: nothing is cached, nothing to do", cpl0=True),
        Callout("clts", C, clts, "cr0", "cr0.TS", False, "CR0 belongs to the monitor", cpl0=True),
    ]


def _ring0_only(entry):
    """The entry with its handler behind the CPL check (one wrapper per calling convention)."""
    if not entry.cpl0:
        return entry
    handler = entry.handler
    if entry.cls == INLINE:
        def checked(b, i):
            require_cpl0(b)
            handler(b, i)
    else:
        def checked(m, b, i):
            if current_cpl(m):                   # the monitor's state is concrete: the builder's
                require_cpl0(b)                  # check only where it raises
            handler(m, b, i)
    checked.__name__ = checked.__qualname__ = handler.__name__
    return replace(entry, handler=checked, reason=f"{entry.reason}; ring 0 only: #GP(0) at CPL > 0")


REGISTRY = {entry.name: _ring0_only(entry) for entry in _entries()}
