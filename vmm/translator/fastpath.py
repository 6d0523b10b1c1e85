"""Native fast paths for the common case of interrupt delivery and iret, so exceptions,
interrupts and system calls do not leave native code.

The general path (vmm.x86.interrupts.deliver, vmm.x86.far.return_far) is Python and is the
reference; run from translated code it costs a return to the monitor and tens of
microseconds.  QEMU runs the same logic in C helpers; here it is LLVM IR functions per
machine, compiled once when first needed (`build`, about 20 ms):

    i32 fast_deliver(ptr state, i32 vector, i32 error, i32 has_error, i32 return_eip, i32 software)
    i32 fast_iret(ptr state)
    i32 fast_sysenter(ptr state)
    i32 fast_sysexit(ptr state)

Each returns DONE (0) after doing the whole job, or DECLINE (1) without changing anything the
guest can see (page walks may have set accessed/dirty bits, as the general path would); the
caller then takes the general path: a block exits to the monitor before its instruction.

Who calls them: translated code for `int n`, `int3`, a 32-bit `iret`, `sysenter` and
`sysexit` (callouts with a fast path, vmm.x86.callouts); the dispatcher, when a block left
with a fault in `CpuState.pending_fault` (a page fault its TLB fill found, Mmu.fill, or a
`raise_if` such as #DE): the fault is delivered and the handler runs without Python; the
monitor, through ctypes, for external interrupts.

The common case (what Linux and the project's example OS do); anything else declines:
  deliver  protected mode, not virtual-8086, the fast paths enabled (not under -d tracing);
           a present 32-bit interrupt or trap gate inside the IDT limit (for int n: gate
           DPL >= CPL); its selector a GDT entry for a present, accessed, 32-bit,
           non-conforming, flat (base 0, 4 GiB) code segment with DPL <= CPL;
           the stack: the current one (32-bit) for DPL = CPL, else the 32-bit TSS's stack
           for ring DPL, a GDT entry for a present, accessed, 32-bit writable data segment
           with RPL = DPL = that ring; a flat stack segment (no limit to check); the frame
           inside one RAM page with no translated code.
  iret     at CPL 0, NT and VM clear, a 32-bit stack; back to ring 0, or to ring 3 with its
           SS:ESP (the same segment checks as above, a flat code segment); the popped
           EFLAGS without VM.
  sysenter IA32_SYSENTER_CS not null (its MSRs live in CpuState.sysenter); sysexit at CPL 0.
  Task gates, 16-bit gates and stacks, conforming handlers, LDT selectors, descriptors whose
  accessed bit is clear (the general path sets it in the table), frames across pages or on
  code pages, and every fault while delivering (the #DF rules) are the general path's.

The interpreter always takes the general path, so `--check` compares the two, and
tests/translator/test_fastpath.py does case by case.

Example:
    module = Module("fast"); build(module, layout)     # then JIT-compile FUNCTIONS
"""

import ctypes

from ..x86.protection import EFLAGS_WRITABLE, IF_MASK, NT_MASK, RF_MASK, TF_MASK, VM_MASK
from ..x86.state import (ARITH_FLAGS_MASK, CR0_PE, CS, DS, ECX, EDX, ES, ESP, FS, GS, SS, CpuState, Segment,
                         TableRegister)
from ..x86.segaccess import CODE_MASK as FLAT_CODE_MASK, FLAT_CODE as FLAT_SEGMENT_CODE, FLAT_DATA, FLAT_LIMIT, FLAT_MASK
from ..x86.segments import FLAT_CODE_FLAGS as SYSENTER_CODE, FLAT_DATA_FLAGS as SYSENTER_DATA
from ..x86.tlb import view_index
from . import symbols
from .irtext import TextArith, Value
from .llvm_builder import OFFSETS, STATE, code_check, tlb_host

FUNCTIONS = ("fast_deliver", "fast_iret", "fast_sysenter", "fast_sysexit", "fast_monitor")   # the last: devicepath
COUNTS = FUNCTIONS + ("fast_wake",)     # Translator.fast_counts: uses of each, fast_monitor's hlt wakes apart
HOST = symbols.HOST_HELPER  # guest memory -> host address (also what tier-0 blocks access memory with)
DONE, DECLINE = 0, 1
SIGNATURES = {"fast_deliver": ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, *[ctypes.c_uint32] * 5),
              "fast_iret": ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p),
              "fast_sysenter": ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p),
              "fast_sysexit": ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p),
              "fast_monitor": ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, *[ctypes.c_uint32] * 3)}
CLEARED_ON_ENTRY = TF_MASK | NT_MASK | RF_MASK | VM_MASK
CODE_OK, CODE_MASK = 0x4099, 0x409D     # flags word: D, P, S, code, accessed; not conforming
STACK_OK, STACK_MASK = 0x4093, 0x409B   # B, P, S, data, writable, accessed
GATE_OK, GATE_MASK = 0x8E, 0x9E         # access byte: P, S clear, 32-bit interrupt or trap gate
USER_READ, SUPERVISOR_READ, SUPERVISOR_WRITE = view_index(True, False), view_index(False, False), view_index(False, True)


def _offsets():
    """OFFSETS plus the descriptor-table registers and TR, which only these paths read here."""
    table = dict(OFFSETS)
    for name in ("gdtr", "idtr"):
        for part in ("base", "limit"):
            table[f"{name}.{part}"] = (getattr(CpuState, name).offset + getattr(TableRegister, part).offset, 32)
    for part in ("selector", "base", "limit", "flags"):
        table[f"tr.{part}"] = (CpuState.tr.offset + getattr(Segment, part).offset, 32)
    for k, name in enumerate(("sysenter_cs", "sysenter_esp", "sysenter_eip")):
        table[name] = (CpuState.sysenter.offset + 8 * k, 32)       # the low halves
    table["seg_checks"] = (CpuState.seg_checks.offset, 32)
    return table


_FIELDS = _offsets()


class _Writer(TextArith):
    """One fast-path function: state fields by name, declining checks, guest memory."""

    def __init__(self, module, name, params, layout):
        super().__init__(module.function(name, "i32", ["ptr noalias %state", *params], attrs="nounwind "), module)
        self.layout = layout
        self.start("entry")
        self.cr2 = self.field("cr2")
        enabled = self.load_ptr("i32", self.symbol(symbols.machine("fast_enabled")))
        self.decline_if(self.eq(enabled, self.c(0), 32))
        self.require(self.field("cr0"), CR0_PE, CR0_PE)

    def field(self, name):
        offset, w = _FIELDS[name]
        return self.load_ptr(f"i{w}", self.gep(STATE, offset))

    def set_field(self, name, value):
        self.store_ptr(value, self.gep(STATE, _FIELDS[name][0]))

    def c(self, value):
        return self.const(value, 32)

    def bits(self, value, mask):
        return self.and_(value, self.c(mask), 32)

    def decline_if(self, cond):
        go_on = self.fn.label()
        self.cbranch(cond, "decline", go_on)
        self.start(go_on)

    def require(self, value, mask, want):
        self.decline_if(self.ne(self.bits(value, mask), self.c(want), 32))

    def finish(self):
        """DONE here; the shared decline path (a page walk that faulted has set CR2 and
        `pending_fault`: both are put back, the general path finds the fault again)."""
        self.ret(self.c(DONE))
        self.start("decline")
        self.set_field("cr2", self.cr2)
        self.set_field("pending_fault", self.c(0))
        self.ret(self.c(DECLINE))

    def host(self, linear, size, kind):
        """The host address of `size` bytes of guest memory at `linear` (one page, RAM, and
        for a write no translated code), accessed with TLB view `kind`; declines if not."""
        host = self.call(f"@{HOST}", "i64", [STATE, linear, self.c(size) if isinstance(size, int) else size, kind])
        self.decline_if(self.eq(host, self.const(0, 64), 64))
        return host

    def load32(self, host, offset=0):
        return self.load_ptr("i32", self.inttoptr(self.add(host, self.const(offset, 64), 64)), align=1)

    def store32(self, value, host, offset):
        self.store_ptr(value, self.inttoptr(self.add(host, self.zext(offset, 32, 64), 64)), align=1)

    def descriptor(self, selector):
        """(low, high) dwords of a GDT descriptor; declines for LDT or null selectors and
        outside the GDT limit."""
        self.decline_if(self.eq(self.bits(selector, 0xFFFC), self.c(0), 32))
        self.decline_if(self.ne(self.bits(selector, 4), self.c(0), 32))
        offset = self.bits(selector, 0xFFF8)
        self.decline_if(self.ult(self.field("gdtr.limit"), self.add(offset, self.c(7), 32), 32))
        host = self.host(self.add(self.field("gdtr.base"), offset, 32), 8, self.c(SUPERVISOR_READ))
        return self.load32(host), self.load32(host, 4)

    def segment(self, low, high):
        """(base, limit in bytes, flags word) of a descriptor, as the segment cache holds them."""
        base = self.or_(self.or_(self.lshr(low, self.c(16), 32), self.shl(self.bits(high, 0xFF), self.c(16), 32), 32),
                        self.bits(high, 0xFF000000), 32)
        raw = self.or_(self.bits(low, 0xFFFF), self.bits(high, 0xF0000), 32)
        granular = self.ne(self.bits(high, 1 << 23), self.c(0), 32)
        limit = self.select(granular, self.or_(self.shl(raw, self.c(12), 32), self.c(0xFFF), 32), raw, 32)
        return base, limit, self.bits(self.lshr(high, self.c(8), 32), 0xF0FF)

    def require_flat_stack(self, flags=None, limit=None):
        """Decline unless the stack segment (this cache, or SS's now) is flat: the pushes and
        pops here check no segment limit (the general path does)."""
        if flags is None:
            self.require(self.field("seg_checks"), 1 << SS, 0)
            return
        self.require(flags, FLAT_MASK, FLAT_DATA)
        self.decline_if(self.ne(limit, self.c(FLAT_LIMIT), 32))

    def require_flat_code(self, base, limit):
        """Decline unless the new CS is based at 0 with a 4 GiB limit: translated code (which
        the dispatcher goes on into) assumes it; the monitor runs any other in the interpreter."""
        self.decline_if(self.ne(base, self.c(0), 32))
        self.decline_if(self.ne(limit, self.c(FLAT_LIMIT), 32))

    def dpl(self, flags):
        return self.bits(self.lshr(flags, self.c(5), 32), 3)

    def load_segment(self, seg, selector, base, limit, flags):
        """Segment register `seg` <- selector and cache, with its bit of seg_checks, as
        vmm.x86.segments.set_cache does (set unless vmm.x86.segaccess.is_flat)."""
        for part, value in zip(("selector", "base", "limit", "flags"), (selector, base, limit, flags)):
            self.set_field(f"seg{seg}.{part}", value)
        flat = self.eq(self.bits(flags, FLAT_MASK), self.c(FLAT_DATA), 32)
        if seg == CS:
            flat = self.or_(flat, self.eq(self.bits(flags, FLAT_CODE_MASK), self.c(FLAT_SEGMENT_CODE), 32), 1)
        flat = self.and_(flat, self.eq(limit, self.c(FLAT_LIMIT), 32), 1)
        flat = self.and_(flat, self.eq(base, self.c(0), 32), 1)
        checks = self.field("seg_checks")
        self.set_field("seg_checks", self.select(flat, self.bits(checks, ~(1 << seg) & 0xFFFFFFFF),
                                                 self.or_(checks, self.c(1 << seg), 32), 32))

    def count(self, name=None):
        """One more use of this fast path, or of `name` (Translator.fast_counts, by COUNTS)."""
        k = COUNTS.index(name or self.fn.name)
        slot = self.inttoptr(self.add(self.symbol_int(symbols.machine("fast_counts")), self.const(8 * k, 64), 64))
        self.store_ptr(self.add(self.load_ptr("i64", slot), self.const(1, 64), 64), slot)

    def cond_store(self, cond, value, host, offset):
        """Store a stack word only if `cond` (the optional words of a frame)."""
        yes, join = self.fn.label("push"), self.fn.label()
        self.cbranch(cond, yes, join)
        self.start(yes)
        self.store32(value, host, offset)
        self.br(join)
        self.start(join)


def build(module, layout):
    """Define fast_host and FUNCTIONS (but fast_monitor: vmm.translator.devicepath) in `module` for a machine (`layout`:
    vmm.translator.llvm_builder.MemoryLayout); they link with its machine symbols plus
    vmm.fast_enabled and vmm.fast_counts (Translator)."""
    _host(module, layout)
    _deliver(module, layout)
    _iret(module, layout)
    _sysenter(module, layout)
    _sysexit(module, layout)


def _host(module, layout):
    """i64 fast_host(state, linear, size, kind): the TLB view `kind` (bit 0 write, bit 1
    user; its fill on a miss) with paging on, RAM directly with it off; 0 if the bytes cross
    a page with paging on, are not RAM, fault, or (kind is a write) share a granule with
    translated code.  Tier-0 blocks access guest memory through it: one call instead of the
    inline TLB lookup makes their IR, and their compile time, much smaller."""
    fn = module.function(HOST, "i64", ["ptr noalias %state", "i32 %linear", "i32 %size", "i32 %kind"],
                         attrs="nounwind ")
    b = TextArith(fn, module)
    linear, size, kind = (Value(f"%{n}", "i32") for n in ("linear", "size", "kind"))
    zero64 = b.const(0, 64)
    b.start("entry")
    paged = b.ne(b.and_(b.load_ptr("i32", b.gep(STATE, OFFSETS["cr0"][0])), b.const(1 << 31, 32), 32),
                 b.const(0, 32), 32)
    b.cbranch(paged, "go", "flat")
    b.start("go")
    crosses = b.ult(b.const(0x1000, 32), b.add(b.and_(linear, b.const(0xFFF, 32), 32), size, 32), 32)
    b.cbranch(crosses, "fail", "paged")
    b.start("paged")
    views = [b.symbol_int(symbols.machine(f"tlb{k}")) for k in range(4)]
    low = b.select(b.eq(kind, b.const(1, 32), 32), views[1], views[0], 64)
    high = b.select(b.eq(kind, b.const(3, 32), 32), views[3], views[2], 64)
    view = b.select(b.ult(kind, b.const(2, 32), 32), low, high, 64)

    def fail_if(cond):
        go_on = b.fn.label()
        b.cbranch(cond, "fail", go_on)
        b.start(go_on)
    paged_host = tlb_host(b, view, linear, kind, fail_if)
    mapped_from = b.current
    b.br("mapped")
    b.start("flat")
    end = b.add(b.zext(linear, 32, 64), b.zext(size, 32, 64), 64)
    ram = b.symbol_int(symbols.machine("ram"))
    in_ram = b.ule(end, b.const(layout.size, 64), 64)
    flat_host = b.add(ram, b.zext(linear, 32, 64), 64)
    b.cbranch(in_ram, "flat_ok", "fail")
    b.start("flat_ok")
    b.br("mapped")
    b.start("mapped")
    host = b.phi("i64", [(paged_host, mapped_from), (flat_host, "flat_ok")])
    b.cbranch(b.eq(b.and_(kind, b.const(1, 32), 32), b.const(0, 32), 32), "done", "write")
    b.start("write")
    phys = b.trunc(b.sub(host, ram, 64), 64, 32)
    code_check(b, phys, b.add(phys, b.sub(size, b.const(1, 32), 32), 32), fail_if)
    b.br("done")
    b.start("done")
    b.ret(host)
    b.start("fail")
    b.ret(zero64)


def _materialized_eflags(w):
    """EFLAGS with the lazily recorded arithmetic flags folded in (the flags helper)."""
    args = [w.field(name) for name in ("cc_op", "cc_dst", "cc_src", "cc_src2")]
    eflags = w.field("eflags")
    helper = w.load_ptr("ptr", w.symbol(symbols.machine("cc_flags_slot")))
    arith = w.call(helper.ref, "i32", args + [eflags], attrs=" nounwind")
    return w.or_(w.bits(eflags, ~ARITH_FLAGS_MASK & 0xFFFFFFFF), arith, 32)


def _flags_settled(w, eflags):
    """EFLAGS <- `eflags`, with the lazy flags state marked materialised (as
    Builder.materialize_flags leaves it)."""
    w.set_field("eflags", eflags)
    for name in ("cc_op", "cc_dst", "cc_src", "cc_src2"):
        w.set_field(name, w.c(0))


def _deliver(module, layout):
    params = ["i32 %vector", "i32 %error", "i32 %has_error", "i32 %return_eip", "i32 %software"]
    w = _Writer(module, "fast_deliver", params, layout)
    vector, error, has_error, return_eip, software = (Value(f"%{n}", "i32") for n in
                                                      ("vector", "error", "has_error", "return_eip", "software"))
    w.require(w.field("eflags"), VM_MASK, 0)
    cpl = w.bits(w.field(f"seg{CS}.selector"), 3)
    # The gate.
    offset = w.shl(vector, w.c(3), 32)
    w.decline_if(w.ult(w.field("idtr.limit"), w.add(offset, w.c(7), 32), 32))
    gate = w.host(w.add(w.field("idtr.base"), offset, 32), 8, w.c(SUPERVISOR_READ))
    low, high = w.load32(gate), w.load32(gate, 4)
    access = w.bits(w.lshr(high, w.c(8), 32), 0xFF)
    w.require(access, GATE_MASK, GATE_OK)
    gate_dpl = w.dpl(access)
    w.decline_if(w.and_(w.ne(software, w.c(0), 32), w.ult(gate_dpl, cpl, 32), 1))
    selector = w.lshr(low, w.c(16), 32)
    handler = w.or_(w.bits(low, 0xFFFF), w.bits(high, 0xFFFF0000), 32)
    # The handler's code segment.
    code_base, code_limit, code_flags = w.segment(*w.descriptor(selector))
    w.require(code_flags, CODE_MASK, CODE_OK)
    w.require_flat_code(code_base, code_limit)
    new_cpl = w.dpl(code_flags)
    w.decline_if(w.ult(cpl, new_cpl, 32))
    switch = w.ult(new_cpl, cpl, 32)
    # The stack: this ring's, or the inner ring's from the TSS.
    w.cbranch(switch, "inner", "current")
    w.start("current")
    old_ss = w.field(f"seg{SS}.selector")
    w.require(w.field(f"seg{SS}.flags"), 0x4000, 0x4000)
    w.require_flat_stack()
    cur = (old_ss, w.field(f"seg{SS}.base"), w.field(f"seg{SS}.limit"), w.field(f"seg{SS}.flags"), w.field(f"gpr{ESP}"))
    cur_label = w.current
    w.br("stack")
    w.start("inner")
    tr_flags = w.field("tr.flags")
    w.decline_if(w.eq(w.bits(w.field("tr.selector"), 0xFFFC), w.c(0), 32))
    w.require(tr_flags, 0x88, 0x88)                   # present, a 32-bit TSS
    slot = w.add(w.shl(new_cpl, w.c(3), 32), w.c(4), 32)
    w.decline_if(w.ult(w.field("tr.limit"), w.add(slot, w.c(7), 32), 32))
    tss = w.host(w.add(w.field("tr.base"), slot, 32), 8, w.c(SUPERVISOR_READ))
    inner_esp, inner_ss = w.load32(tss), w.bits(w.load32(tss, 4), 0xFFFF)
    w.require(w.xor(w.bits(inner_ss, 3), new_cpl, 32), 3, 0)
    ss_base, ss_limit, ss_flags = w.segment(*w.descriptor(inner_ss))
    w.require(ss_flags, STACK_MASK, STACK_OK)
    w.require_flat_stack(ss_flags, ss_limit)
    w.decline_if(w.ne(w.dpl(ss_flags), new_cpl, 32))
    inner = (inner_ss, ss_base, ss_limit, ss_flags, inner_esp)
    inner_label = w.current
    w.br("stack")
    w.start("stack")
    ss_sel, base, limit, flags, esp = (w.phi("i32", [(a, cur_label), (b_, inner_label)]) for a, b_ in zip(cur, inner))
    # The frame: [SS, ESP,] EFLAGS, CS, EIP[, error code], the first word highest.
    error_bytes = w.shl(has_error, w.c(2), 32)
    size = w.add(w.add(w.c(12), error_bytes, 32), w.select(switch, w.c(8), w.c(0), 32), 32)
    top = w.sub(esp, size, 32)
    user = w.and_(w.eq(cpl, w.c(3), 32), w.eq(new_cpl, w.c(3), 32), 1)
    kind = w.select(user, w.c(view_index(True, True)), w.c(SUPERVISOR_WRITE), 32)
    frame = w.host(w.add(base, top, 32), size, kind)
    eflags = _materialized_eflags(w)
    w.cond_store(w.ne(has_error, w.c(0), 32), error, frame, w.c(0))
    w.store32(return_eip, frame, error_bytes)
    w.store32(w.field(f"seg{CS}.selector"), frame, w.add(error_bytes, w.c(4), 32))
    w.store32(eflags, frame, w.add(error_bytes, w.c(8), 32))
    w.cond_store(switch, w.field(f"gpr{ESP}"), frame, w.add(error_bytes, w.c(12), 32))
    w.cond_store(switch, w.field(f"seg{SS}.selector"), frame, w.add(error_bytes, w.c(16), 32))
    # Commit.
    w.load_segment(SS, ss_sel, base, limit, flags)
    w.set_field(f"gpr{ESP}", top)
    w.load_segment(CS, w.or_(w.bits(selector, 0xFFFC), new_cpl, 32), code_base, code_limit, code_flags)
    trap = w.ne(w.bits(access, 1), w.c(0), 32)
    cleared = w.select(trap, w.c(CLEARED_ON_ENTRY), w.c(CLEARED_ON_ENTRY | IF_MASK), 32)
    _flags_settled(w, w.and_(eflags, w.not_(cleared, 32), 32))
    w.set_field("eip", handler)
    w.count()
    w.finish()


def _iret(module, layout):
    w = _Writer(module, "fast_iret", [], layout)
    old = w.field("eflags")
    w.require(old, NT_MASK | VM_MASK, 0)
    w.require(w.field(f"seg{CS}.selector"), 3, 0)
    w.require(w.field(f"seg{SS}.flags"), 0x4000, 0x4000)
    w.require_flat_stack()
    stack_base, esp = w.field(f"seg{SS}.base"), w.field(f"gpr{ESP}")
    frame = w.host(w.add(stack_base, esp, 32), 12, w.c(SUPERVISOR_READ))
    eip, selector, popped = w.load32(frame), w.bits(w.load32(frame, 4), 0xFFFF), w.load32(frame, 8)
    w.require(popped, VM_MASK, 0)
    rpl = w.bits(selector, 3)
    code_base, code_limit, code_flags = w.segment(*w.descriptor(selector))
    w.require(code_flags, CODE_MASK, CODE_OK)
    w.require_flat_code(code_base, code_limit)
    w.decline_if(w.ne(w.dpl(code_flags), rpl, 32))
    w.cbranch(w.eq(rpl, w.c(0), 32), "ring0", "outer")
    w.start("ring0")
    w.set_field(f"gpr{ESP}", w.add(esp, w.c(12), 32))
    w.br("flags")
    w.start("outer")
    w.decline_if(w.ne(rpl, w.c(3), 32))
    outer = w.host(w.add(stack_base, w.add(esp, w.c(12), 32), 32), 8, w.c(SUPERVISOR_READ))
    new_esp, new_ss = w.load32(outer), w.bits(w.load32(outer, 4), 0xFFFF)
    w.require(new_ss, 3, 3)
    ss_base, ss_limit, ss_flags = w.segment(*w.descriptor(new_ss))
    w.require(ss_flags, STACK_MASK | 0x60, STACK_OK | 0x60)      # DPL 3
    w.require_flat_stack(ss_flags, ss_limit)
    w.load_segment(SS, new_ss, ss_base, ss_limit, ss_flags)
    w.set_field(f"gpr{ESP}", new_esp)
    _drop_inaccessible(w)
    w.br("flags")
    w.start("flags")
    w.load_segment(CS, selector, code_base, code_limit, code_flags)
    eflags = w.or_(w.bits(old, ~EFLAGS_WRITABLE & 0xFFFFFFFF), w.bits(popped, EFLAGS_WRITABLE), 32)
    _flags_settled(w, eflags)
    w.set_field("eip", eip)
    # An interrupt waiting for IF, or TF now set: translated code stops at the next block
    # (as Builder.interrupt_window does for sti and popf).
    opens = w.and_(w.ne(w.bits(eflags, IF_MASK), w.c(0), 32), w.ne(w.field("irq_pending"), w.c(0), 32), 1)
    stop = w.or_(opens, w.ne(w.bits(eflags, TF_MASK), w.c(0), 32), 1)
    w.set_field("icount_limit", w.select(stop, w.const(0, 64), w.field("icount_limit"), 64))
    w.count()
    w.finish()


def _drop_inaccessible(w):
    """ES DS FS GS that ring 3 may not use become null (vmm.x86.segments.drop_inaccessible):
    a data or non-conforming code segment with DPL < 3."""
    for seg in (ES, DS, FS, GS):
        flags = w.field(f"seg{seg}.flags")
        segment = w.ne(w.bits(flags, 0x10), w.c(0), 32)
        conforming = w.eq(w.bits(flags, 0x1C), w.c(0x1C), 32)
        drop = w.and_(w.and_(segment, w.not_(conforming, 1), 1), w.ult(w.dpl(flags), w.c(3), 32), 1)
        w.load_segment(seg, w.select(drop, w.c(0), w.field(f"seg{seg}.selector"), 32), w.field(f"seg{seg}.base"),
                       w.field(f"seg{seg}.limit"), w.select(drop, w.bits(flags, ~0x80 & 0xFFFFFFFF), flags, 32))


def _sysenter(module, layout):
    """vmm.x86.sysenter.sysenter: flat ring-0 CS and SS from IA32_SYSENTER_CS, ESP and EIP
    from their MSRs, VM IF RF cleared (the lazy arithmetic flags stay lazy)."""
    w = _Writer(module, "fast_sysenter", [], layout)
    selector = w.bits(w.field("sysenter_cs"), 0xFFFC)
    w.decline_if(w.eq(selector, w.c(0), 32))
    w.load_segment(CS, selector, w.c(0), w.c(0xFFFFFFFF), w.c(SYSENTER_CODE))
    w.load_segment(SS, w.add(selector, w.c(8), 32), w.c(0), w.c(0xFFFFFFFF), w.c(SYSENTER_DATA))
    w.set_field("eflags", w.bits(w.field("eflags"), ~(VM_MASK | IF_MASK | RF_MASK) & 0xFFFFFFFF))
    w.set_field(f"gpr{ESP}", w.field("sysenter_esp"))
    w.set_field("eip", w.field("sysenter_eip"))
    w.count()
    w.finish()


def _sysexit(module, layout):
    """vmm.x86.sysenter.sysexit (ring 0 only): flat ring-3 CS and SS above IA32_SYSENTER_CS,
    ESP = ECX, EIP = EDX."""
    w = _Writer(module, "fast_sysexit", [], layout)
    w.require(w.field(f"seg{CS}.selector"), 3, 0)
    selector = w.bits(w.field("sysenter_cs"), 0xFFFC)
    w.decline_if(w.eq(selector, w.c(0), 32))
    w.load_segment(CS, w.or_(w.add(selector, w.c(16), 32), w.c(3), 32), w.c(0), w.c(0xFFFFFFFF),
                   w.c(SYSENTER_CODE | 3 << 5))
    w.load_segment(SS, w.or_(w.add(selector, w.c(24), 32), w.c(3), 32), w.c(0), w.c(0xFFFFFFFF),
                   w.c(SYSENTER_DATA | 3 << 5))
    w.set_field(f"gpr{ESP}", w.field(f"gpr{ECX}"))
    w.set_field("eip", w.field(f"gpr{EDX}"))
    w.count()
    w.finish()
