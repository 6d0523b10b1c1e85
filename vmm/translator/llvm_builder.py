"""The LLVM builder: the shared semantics emit IR for one guest basic block.

A block becomes `i32 block(ptr state)` (CpuState*, layout in vmm.x86.state).
Guest registers and state fields are loaded on first use and kept in SSA
values for the rest of the block.  Writes are either stored back at the
block's exits (tier 2: LLVM keeps everything in host registers) or stored at
once, `eager` (tier 0: far less IR, since an exit then only sets EIP; that is
still precise because an instruction writes registers only after its last
check).  Lazy condition codes are tracked statically: after a
flag-setting instruction the builder knows the op and width, so a later
`jcc` computes just the flag it needs and LLVM drops the rest.

A tier-2 block that jumps back to its own start is compiled as a loop: the state
fields it writes stay in phis round the loop and are stored on the way out
(`LoopPlan`, `_open_loop`), so a hot one-block loop touches CpuState only when it ends.

Side exits keep exceptions precise: a check that fails (raise_if, a memory
access outside RAM, a store to a page holding code) branches to an exit that
writes back the state as it was *before* the current instruction, sets EIP to
it and returns STEP, so the monitor re-runs that one instruction in the
interpreter, which raises the fault or performs the slow access.  This works
because semantics do all checks and loads before stores and register writes
(the invariant stated in vmm.x86.builder).

Example:
    module = Module("tc1")
    fb = LLVMBuilder(module, "b_100000", layout, symbols.counter(0))
    for insn in block: fb.emit(insn)
    fb.finish(fallthrough)
    module.text()           # what the JIT compiles
"""

import ctypes
from dataclasses import dataclass

from ..x86 import flags
from ..x86.builder import Builder
from ..x86.exceptions import pending_word
from ..x86.state import CpuState, FLAG_BITS
from ..x86.mode import MODE_PAGING, MODE_SEGMENTS, MODE_SEGMENTS_SHIFT
from ..x86.tlb import VIEWS, view_index
from ..memory import CODE_HERE, CODE_NEXT, CODE_SHIFT
from .exits import CONTINUE, BUDGET, STEP
from .rules import fast_path
from . import symbols
from .irtext import COMPARE_CHAIN_MAX, Module, TextArith, Value


def _field_offsets():
    """name -> (byte offset, width) for every CpuState field semantics may name."""
    table = {}
    for name in ("eip", "eflags", "cc_op", "cc_dst", "cc_src", "cc_src2", "irq_pending", "pending_fault",
                 "ferr"):
        table[name] = (getattr(CpuState, name).offset, 32)
    for name in ("tsc", "icount", "icount_limit", "int_shadow"):
        table[name] = (getattr(CpuState, name).offset, 64)
    for n in range(5):
        table[f"cr{n}"] = (CpuState.cr.offset + 4 * n, 32)
    seg_size = 16
    for n in range(6):
        for k, part in enumerate(("selector", "base", "limit", "flags")):
            table[f"seg{n}.{part}"] = (CpuState.seg.offset + seg_size * n + 4 * k, 32)
    for n in range(8):
        table[f"gpr{n}"] = (CpuState.gpr.offset + 4 * n, 32)
    return table


OFFSETS = _field_offsets()
CC_FIELDS = ("cc_op", "cc_dst", "cc_src", "cc_src2")
CC_FIELDS_SET = frozenset(CC_FIELDS)
# Ops whose flags are computed inline when read in a later block (see _speculate): cmp and
# sub, test and the logic ops, add, inc.  At most COMPARE_CHAIN_MAX: more would be a real
# `switch`, which tier 0's fast instruction selection lacks.
SPECULATED_CC = ((flags.SUB, 32), (flags.LOGIC, 32), (flags.ADD, 32), (flags.INC, 32))
assert len(SPECULATED_CC) <= COMPARE_CHAIN_MAX
STATE = Value("%state", "ptr")
NO_PAGE = 1 << 63          # a page slot's value before any lookup: no 32-bit address is inside it


class MemoryLayout:
    """What translated code needs of the machine: guest RAM and its size (a constant in the
    code), and the host addresses it links to by name (`symbols`, vmm.translator.symbols):
    RAM, the code-granule map, the software TLB's views (vmm.x86.tlb) and the slots holding
    helper addresses."""

    def __init__(self, memory, tlb=None):
        self.ram = memory.host_address
        self.size = memory.size
        self.code_map = ctypes.addressof(memory.code_map)
        self.tlb = tlb
        self.cc_flags_slot = 0    # where the translator keeps the cc_flags helper's address
        self.tlb_fill_slot = 0    # and the TLB fill trampoline's: i64 fill(ptr state, i32 linear, i32 kind)
        self.fast = {}            # the native fast paths' slots, switch and counters, by name (fastpath)

    def symbols(self):
        """{symbol name: host address} of this machine."""
        table = {symbols.machine(name): getattr(self, name)
                 for name in ("ram", "code_map", "cc_flags_slot", "tlb_fill_slot")}
        table.update({symbols.machine(name): address for name, address in self.fast.items()})
        if self.tlb is not None:
            for user, write in VIEWS:
                table[symbols.machine(f"tlb{view_index(user, write)}")] = self.tlb.view_address(user, write)
        return table


@dataclass(frozen=True)
class LoopPlan:
    """A block that jumps back to its own start: the state fields its body only reads and
    those it writes (see LLVMBuilder._open_loop)."""
    address: int
    read: tuple
    written: tuple


def plan_loop(layout, insns, mode=0):
    """The LoopPlan of a block, found by emitting it once into a scratch module."""
    fb = LLVMBuilder(Module("plan"), "plan", layout, symbols.counter(0), mode=mode)
    for insn in insns:
        fb.emit(insn)
    written = sorted(fb.dirty) + (list(CC_FIELDS) if fb.cc_dirty else [])
    read = sorted(name for name in fb.values if name not in written)
    return LoopPlan(insns[0].address, tuple(read), tuple(written))


class LLVMBuilder(TextArith, Builder):
    """Emits one block function; `emit(insn)` per instruction, then `finish()`."""

    def __init__(self, module, name, layout, counter, eager=False, loop=None, mode=0, length=1):
        # Only %state reaches CpuState inside a block (RAM, counters and chain slots are other
        # objects), so LLVM may keep state fields in registers across a loop.
        fn = module.function(name, "i32", ["ptr noalias %state"], attrs="nounwind ")
        super().__init__(fn, module)
        self.name = name
        self.layout = layout
        self.paging = bool(mode & MODE_PAGING)      # memory goes through the software TLB
        # Segments whose accesses are checked: those of the mode that are not flat, FS, GS.
        self.checked_segments = (mode >> MODE_SEGMENTS_SHIFT) | (~MODE_SEGMENTS & 0x3F)
        self.user = mode & 3 == 3                   # ...its user views (CPL 3)
        self.eager = eager
        self.values = {}          # field name -> current Value
        self.dirty = set()        # fields written in this block and not yet stored
        self.cc = None            # (op, w, dst, src, src2) once known statically
        self.cc_dirty = False
        self.done = 0             # instructions completed before the current one
        self.insn = None
        self.target = None
        self.loop = loop
        self.invariant = None     # in a self-loop: refs of values the same on every pass
        self.length = length      # the block's instructions: it starts only if all fit the budget
        self.start("entry")
        counter = self.symbol(counter)      # the block's execution counter, for tiers
        if loop is not None:
            self._open_loop(loop, counter)
            return
        self.icount0 = self._load_field("icount")
        self._leave_if(self._over_budget(self._load_field("icount_limit")), BUDGET)
        self.store_ptr(self.add(self.load_ptr("i64", counter), self.const(1, 64), 64), counter)

    # ---- self-loops (tier 2): state carried round the loop in registers -----------------------
    def _open_loop(self, loop, counter):
        """Start a block that jumps back to itself (`loop`: a LoopPlan).  Every state field the
        body touches is loaded once, before the loop; the fields it writes, the instruction
        count and the execution counter travel round the loop in phis and are stored only
        on the way out, as LLVM's LICM and scalar promotion would do (llvmlite does not
        expose them).  Nothing else writes CpuState while translated code runs, so the
        values stay exact; every exit writes them back."""
        entry = {name: self._load_field(name) for name in loop.read + loop.written}
        entry["icount"] = self._load_field("icount")
        self.counter_ptr = counter
        entry["counter"] = self.load_ptr("i64", counter)
        limit = self._load_field("icount_limit")
        self.invariant = {entry[name].ref for name in loop.read}
        self.host_slots = {}                        # (linear ref, bits, store) -> alloca, see _hoisted_pointer
        self.fn.lines.append("")                    # their allocas, written by _hoisted_pointer
        self.slot_line = len(self.fn.lines) - 1
        header = self.fn.label("loop")
        self.br(header)
        self.start(header)
        self.loop_header = header
        self.phis = {}                              # name -> (line index, phi Value, entry Value)
        for name, value in entry.items():
            if name in loop.read:
                self.values[name] = value           # loop-invariant: loaded once
                continue
            phi = Value(self.fn.fresh("phi"), value.ty)
            self.fn.lines.append(None)              # the phi line, written by _close_loop
            self.phis[name] = (len(self.fn.lines) - 1, phi, value)
        self.icount0 = self.phis["icount"][1]
        for name in loop.written:
            self.values[name] = self.phis[name][1]
            self.dirty.add(name)
        budget, go_on = self.fn.label("budget"), self.fn.label()
        self.cbranch(self._over_budget(limit), budget, go_on)
        self.start(budget)
        self.counter_value = self.phis["counter"][1]        # this pass does not run
        self._write_back(self.values, self.dirty, None, False, self.const(loop.address, 32), 0)
        self.ret(self.const(BUDGET, 32))
        self.start(go_on)
        self.counter_value = self.add(self.phis["counter"][1], self.const(1, 64), 64)

    def _over_budget(self, limit):
        """True if running the whole block would retire past `limit`: the block does not start
        (BUDGET) and the monitor interprets the last few instructions, so counts are exact."""
        return self.ult(limit, self.add(self.icount0, self.const(self.length, 64), 64), 64)

    def _close_loop(self):
        """The jump back to the loop header: the phis take this pass's final values."""
        incoming = dict(self.values)
        if self.cc_dirty:
            incoming.update(zip(CC_FIELDS, self._cc_values(self.cc)))
        incoming["icount"] = self.add(self.icount0, self.const(self.done, 64), 64)
        incoming["counter"] = self.counter_value
        for name, (index, phi, first) in self.phis.items():
            self.fn.lines[index] = (f"  {phi.ref} = phi {phi.ty} [ {first.ref}, %entry ], "
                                    f"[ {incoming[name].ref}, %{self.current} ]")
        self.br(self.loop_header)

    # ---- raw state access ------------------------------------------------------------------
    def _load_field(self, name):
        offset, w = OFFSETS[name]
        return self.load_ptr(f"i{w}", self.gep(STATE, offset))

    def field(self, name):
        if name == "icount":
            return self.add(self.icount0, self.const(self.done, 64), 64)
        value = self.values.get(name)
        if value is None:
            value = self.values[name] = self._load_field(name)
        return value

    def set_field(self, name, v):
        self.values[name] = v
        if self.eager:
            self._store(name, v)
        else:
            self.dirty.add(name)

    def _store(self, name, v):
        self.store_ptr(v, self.gep(STATE, OFFSETS[name][0]))

    def reg(self, index, w, shift):
        full = self.field(f"gpr{index}")
        if w == 32:
            return full
        return self.trunc(self.lshr(full, self.const(shift, 32), 32), 32, w)

    def set_reg(self, index, v, w, shift):
        name = f"gpr{index}"
        if w == 32:
            self.set_field(name, v)
            return
        keep = self.const(~(((1 << w) - 1) << shift) & 0xFFFFFFFF, 32)
        part = self.shl(self.zext(v, w, 32), self.const(shift, 32), 32)
        self.set_field(name, self.or_(self.and_(self.field(name), keep, 32), part, 32))

    def seg_base(self, seg):
        """0 for a segment the mode says is flat (vmm.x86.segaccess.is_flat)."""
        return self.field(f"seg{seg}.base") if self.seg_checked(seg) else self.const(0, 32)

    def seg_checked(self, seg):
        """Static: the block is keyed by the mode it was compiled in, which says which of
        ES, CS, SS, DS are not flat (FS and GS are always checked: vmm.x86.mode)."""
        return bool(self.checked_segments >> seg & 1)

    # ---- memory: inline RAM access with a slow-path exit -----------------------------------
    def _host_pointer(self, linear, w, store):
        if self.paging:
            if self.eager:
                return self._helper_pointer(linear, w, store)
            return self._paged_pointer(linear, w, store)
        # RAM is below 4 GiB - 8, so a 32-bit compare of the last byte's address suffices.
        self._exit_if(self.ult(self.const(self.layout.size - w // 8, 32), linear, 32))
        host = self.inttoptr(self.add(self.symbol_int(symbols.machine("ram")), self.zext(linear, 32, 64), 64))
        if store:
            self._exit_if_code(linear, w)
        return host

    def _helper_pointer(self, linear, w, store):
        """Tier 0 with paging on: the host address from one call of the machine's fast_host
        (vmm.translator.fastpath: the TLB and its fill, the SMC check for a store); 0 leaves
        the block, as the inline checks do.  Measured on Linux boot blocks: 90 IR lines a
        block instead of 161 and 0.49 ms of LLVM instead of 1.25 (the inline TLB lookup
        with its fill call is the costly part; with paging off the inline access is small
        and the call saved only 7%, so flat tier-0 code keeps it inline)."""
        kind = self.const(int(store) | (int(self.user) << 1), 32)
        host = self.call(self.symbol(symbols.machine(symbols.HOST_HELPER)).ref, "i64",
                         [STATE, linear, self.const(w // 8, 32), kind], attrs=" nounwind")
        self._exit_if(self.eq(host, self.const(0, 64), 64))
        return self.inttoptr(host)

    def _exit_if_code(self, phys, w):
        """Leave before a store into a granule holding translated code (SMC); an unaligned
        store may touch the next granule too."""
        code_check(self, phys, self.add(phys, self.const(w // 8 - 1, 32), 32) if w > 8 else phys, self._exit_if)

    def _paged_pointer(self, linear, w, store):
        """Paging on: the TLB view of this access kind and privilege has one entry per page
        (vmm.x86.tlb), `host page - linear page + 1` or 0.  A miss calls the fill callback
        (a page walk in the monitor, without leaving the block); if the page cannot be
        accessed that way, or is not RAM, or the access crosses into the next page, the
        instruction leaves for the interpreter, which raises the #PF or does the access.
        An address the instruction stores to (`will_write`) is looked up once, as a write,
        at its first access: a read-modify-write loads through the write view (a writable
        page is readable) and stores through the same host address."""
        key = (linear.ref, w)
        store = store or linear.ref in self.stored
        if store and key in self.store_hosts:
            return self.store_hosts[key]
        if self.invariant is None:
            host = self.inttoptr(self._paged_host(linear, w, store))
        elif self._is_invariant(linear):
            host = self._hoisted_pointer(linear, w, store)
        else:
            host = self._page_cached_pointer(linear, w, store)
        if store:
            self.store_hosts[key] = host
        return host

    def will_write(self, linear):
        self.stored.add(linear.ref)

    def _paged_host(self, linear, w, store):
        view = self.symbol_int(symbols.machine(f"tlb{view_index(self.user, store)}"))
        kind = self.const(int(store) | (int(self.user) << 1), 32)
        host = tlb_host(self, view, linear, kind, self._exit_if)
        if w > 8:
            offset = self.and_(linear, self.const(0xFFF, 32), 32)
            self._exit_if(self.ult(self.const(0x1000 - w // 8, 32), offset, 32))
        if store:
            self._exit_if_code_at_host(host, w)
        return host

    def _exit_if_code_at_host(self, host, w):
        """_exit_if_code for the i64 host address of a store into RAM."""
        self._exit_if_code(self.trunc(self.sub(host, self.symbol_int(symbols.machine("ram")), 64), 64, 32), w)

    def _hoisted_pointer(self, linear, w, store):
        """A self-loop's access at the same linear address on every pass (`[esp + 8]` with ESP
        not written in the loop): the host address found on the first pass is kept in a
        slot (an alloca LLVM turns into a phi) and later passes use it with one test, as
        LICM would hoist the lookup if llvmlite had it.  Nothing a pass can do changes it:
        the TLB and the code map change only in the monitor, which runs between blocks
        (a fill adds its own page's entry and nothing else), and the slot is written only
        once every check of the access passed."""
        slot = self._slot((linear.ref, w, store), 0)
        cached = self.load_ptr("i64", slot)
        before, lookup, join = self.current, self.fn.label("lookup"), self.fn.label("hoisted")
        self.cbranch(self.eq(cached, self.const(0, 64), 64), lookup, join)
        self.start(lookup)
        host = self._paged_host(linear, w, store)
        self.store_ptr(host, slot)
        found = self.current
        self.br(join)
        self.start(join)
        return self.inttoptr(self.phi("i64", [(cached, before), (host, found)]))

    def _page_cached_pointer(self, linear, w, store):
        """A self-loop's access whose address changes from pass to pass (`[ebp]` with EBP
        stepping through an array): the page the last pass found (its linear address and
        `host - linear`) is kept in two slots, and an access that lies wholly inside it
        costs a subtract and a compare instead of the TLB lookup and the page-crossing test
        (the same reasoning as _hoisted_pointer keeps the page valid).  A store still tests
        its own granule for code."""
        page_slot = self._slot((linear.ref, w, store, "page"), NO_PAGE)
        delta_slot = self._slot((linear.ref, w, store, "delta"), 0)
        address = self.zext(linear, 32, 64)
        page, delta = self.load_ptr("i64", page_slot), self.load_ptr("i64", delta_slot)
        inside = self.ule(self.sub(address, page, 64), self.const(0x1000 - w // 8, 64), 64)
        hit, lookup, join = self.fn.label("same_page"), self.fn.label("lookup"), self.fn.label("paged")
        self.cbranch(inside, hit, lookup)
        self.start(hit)
        cached = self.add(delta, address, 64)
        if store:
            self._exit_if_code_at_host(cached, w)
        hit_from = self.current
        self.br(join)
        self.start(lookup)
        host = self._paged_host(linear, w, store)
        self.store_ptr(self.and_(address, self.const(~0xFFF, 64), 64), page_slot)
        self.store_ptr(self.sub(host, address, 64), delta_slot)
        found = self.current
        self.br(join)
        self.start(join)
        return self.inttoptr(self.phi("i64", [(cached, hit_from), (host, found)]))

    def _slot(self, key, initial):
        """The i64 alloca `key` names, stored `initial` in the entry block (a loop's slot,
        see _hoisted_pointer)."""
        slot = self.host_slots.get(key)
        if slot is None:
            slot = self.host_slots[key] = Value(self.fn.fresh("slot"), "ptr")
            self.fn.lines[self.slot_line] += f"\n  {slot.ref} = alloca i64\n  store i64 {initial}, ptr {slot.ref}"
        return slot

    def _is_invariant(self, v):
        return not v.ref.startswith("%") or v.ref in self.invariant

    def _binary(self, op, x, y, w, fold):
        v = super()._binary(op, x, y, w, fold)
        if self.invariant is not None and self._is_invariant(x) and self._is_invariant(y):
            self.invariant.add(v.ref)
        return v

    def _cast(self, op, x, wf, wt, fold):
        v = super()._cast(op, x, wf, wt, fold)
        if self.invariant is not None and self._is_invariant(x):
            self.invariant.add(v.ref)
        return v

    def load(self, linear, w):
        return self.load_ptr(f"i{w}", self._host_pointer(linear, w, False), align=1)

    def store(self, linear, v, w):
        self.store_ptr(v, self._host_pointer(linear, w, True), align=1)

    # ---- control ---------------------------------------------------------------------------
    def begin(self, insn):
        self.insn, self.target, self.exit_label = insn, None, None
        self.stored, self.store_hosts = set(), {}       # this instruction's, see _paged_pointer
        self.snapshot = (dict(self.values), set(self.dirty), self.cc, self.cc_dirty)

    def jump(self, target):
        self.target = target

    def raise_if(self, cond, vector, error_code=None):
        """Leave before the instruction (as _exit_if), with the fault in `pending_fault`:
        the native dispatcher delivers it through the fast path, without Python."""
        if cond.const == 0:
            return
        exit_label = self._exit_label()
        fault, go_on = self.fn.label("fault"), self.fn.label()
        self.cbranch(cond, fault, go_on)
        self.start(fault)
        self._store("pending_fault", self.const(pending_word(vector, error_code), 32))
        self.br(exit_label)
        self.start(go_on)

    def _leave_if(self, cond, code):
        """Return `code` at once if cond (nothing written yet: the budget check)."""
        out, go_on = self.fn.label("out"), self.fn.label()
        self.cbranch(cond, out, go_on)
        self.start(out)
        self.ret(self.const(code, 32))
        self.start(go_on)

    def skip_unless(self, cond):
        """The rest of the instruction runs only if cond; otherwise it retires doing nothing."""
        skip, go_on = self.fn.label("skip"), self.fn.label()
        self.cbranch(cond, go_on, skip)
        self.start(skip)
        self._write_back(*self.snapshot, eip=self.const(self.insn.next, 32), retired=self.done + 1)
        self.ret(self.const(CONTINUE, 32))
        self.start(go_on)

    def _exit_if(self, cond):
        """Leave the block before the current instruction (state as it was) with STEP.
        All checks of one instruction share one exit path (it writes back the same state);
        its code is emitted at the end of the function."""
        if cond.const == 0:
            return
        go_on = self.fn.label()
        self.cbranch(cond, self._exit_label(), go_on)
        self.start(go_on)

    def _exit_label(self):
        """The current instruction's exit path (emitted once, at the end of the function)."""
        if self.exit_label is None:
            self.exit_label = self.fn.label(f"exit_{self.insn.address:x}_")
            self.pending_exits.append((self.exit_label, self.snapshot, self.insn.address, self.done))
        return self.exit_label

    pending_exits = None

    def _write_back(self, values, dirty, cc, cc_dirty, eip, retired):
        for name in sorted(dirty):
            self._store(name, values[name])
        if cc_dirty:
            self._store_cc(cc)
        self._store("eip", eip)
        if retired or self.loop is not None:
            self._store("icount", self.add(self.icount0, self.const(retired, 64), 64))
        if self.loop is not None:
            self.store_ptr(self.counter_value, self.counter_ptr)

    def emit(self, insn):
        """Emit one instruction's semantics; returns True if it transferred control."""
        if self.pending_exits is None:
            self.pending_exits = []
        self.begin(insn)
        fast = fast_path(insn)
        if fast is not None:
            self._emit_fast(*fast)
        else:
            insn.spec.sem(self, insn)
        self.done += 1
        return self.target is not None

    def _emit_fast(self, name, args):
        """A callout with a fast path, as the block's last instruction: the state as before
        it is written back, and the helper called through its slot: a native fast path
        (vmm.translator.fastpath) or the monitor's callback (vmm.translator.monitorcall).
        It returns DONE (0): the block goes on at the EIP the helper set, reading state
        afresh (this instruction is counted here); DECLINE (1): nothing happened, the block
        leaves with STEP (the monitor runs the instruction); LEAVE (2, the monitor's only):
        the state is complete as it stands, the block returns BUDGET."""
        self._write_back(self.values, self.dirty, self.cc, self.cc_dirty, self.const(self.insn.address, 32),
                         self.done)
        helper = self.load_ptr("ptr", self.symbol(symbols.machine(f"{name}_slot")))
        result = self.call(helper.ref, "i32", [STATE, *(self.const(a, 32) for a in args)], attrs=" nounwind")
        declined, done = self.fn.label("declined"), self.fn.label("delivered")
        self.cbranch(self.eq(result, self.const(0, 32), 32), done, declined)
        self.start(declined)
        self.ret(self.select(self.eq(result, self.const(1, 32), 32), self.const(STEP, 32), self.const(BUDGET, 32), 32))
        self.start(done)
        self.values, self.dirty, self.cc, self.cc_dirty = {}, set(), None, False
        self.target = self._load_field("eip")

    def finish(self, fallthrough, chain_slot=None, own_address=None):
        """Close the block: write state back, EIP = jump target or `fallthrough`, then chain.

        For each successor known now (a constant EIP, or a select between two constants as
        a jcc makes), `chain_slot(address)` names the native slot (a symbol) holding that
        block's code address or 0; the block tail-calls through it, so translated code runs block to
        block without the dispatcher (QEMU goto_tb).  Anything else returns CONTINUE, and so
        does every exit without `chain_slot` (tier 0): the native dispatcher then finds the
        next block in the jump cache, still without Python.
        A jump back to `own_address` calls this very function directly: LLVM turns the
        self tail call into a loop.  That is safe because a block is only ever invalidated
        from Python, which runs only after translated code has returned."""
        eip = self.target if self.target is not None else self.const(fallthrough, 32)
        if self.loop is not None:
            again, leave = self.fn.label("again"), self.fn.label("leave")
            self.cbranch(self.eq(eip, self.const(own_address, 32), 32), again, leave)
            self.start(again)
            self._close_loop()
            self.start(leave)
        self._write_back(self.values, self.dirty, self.cc, self.cc_dirty, eip, self.done)
        targets = [eip.const] if eip.const is not None else sorted(set(eip.arms)) if eip.arms else []
        if self.loop is not None:
            targets = [t for t in targets if t != own_address]
        slots = [(t, chain_slot(t)) for t in targets] if chain_slot else []
        slots = [(t, slot) for t, slot in slots if slot is not None or t == own_address]
        if not slots:
            self.ret(self.const(CONTINUE, 32))
        else:
            back = self.fn.label("to_dispatcher")
            cases = [(t, self.fn.label(f"chain_{t:x}_")) for t, _ in slots]
            self.switch(eip, back, cases)
            for (target, slot), (_, label) in zip(slots, cases):
                self.start(label)
                if target == own_address:
                    self.ret(self.call(f"@{self.name}", "i32", [STATE], tail="musttail"))
                    continue
                code = self.load_ptr("i64", self.symbol(slot))
                linked = self.fn.label("linked")
                self.cbranch(self.ne(code, self.const(0, 64), 64), linked, back)
                self.start(linked)
                result = self.call(self.inttoptr(code).ref, "i32", [STATE], tail="musttail")
                self.ret(result)
            self.start(back)
            self.ret(self.const(CONTINUE, 32))
        for label, snapshot, address, done in self.pending_exits or ():
            self.start(label)
            self._write_back(*snapshot, eip=self.const(address, 32), retired=done)
            self.ret(self.const(STEP, 32))

    def native(self, name, args):
        """A direct call of the helper (compiled once per process, linked in by name)."""
        callee = self.symbol(symbols.native(name))
        args = list(args) + [self.const(0, 64)] * (4 - len(args))
        return self.call(callee.ref, "i64", [STATE, *args], attrs=" nounwind")

    # ---- lazy flags ------------------------------------------------------------------------
    def cc_get(self):
        return self.cc

    def cc_set(self, op, w, dst, src, src2):
        self.cc = (op, w, dst, src, src2)
        self.dirty -= CC_FIELDS_SET          # the static cc supersedes carried cc fields
        if self.eager:
            self._store_cc(self.cc)
        else:
            self.cc_dirty = True

    def _cc_values(self, cc):
        """The four cc fields' values (32-bit) for a statically known cc."""
        op, w, dst, src, src2 = cc
        return [self.const(flags.encode(op, w), 32)] + [self.zext(v, w, 32) for v in (dst, src, src2)]

    def _store_cc(self, cc):
        for name, value in zip(CC_FIELDS, self._cc_values(cc)):
            self._store(name, value)

    def compute_all_dynamic(self):
        """Arithmetic flags from the cc state the block was entered with (unknown op)."""
        args = [self.field(n) for n in CC_FIELDS]
        helper = self.load_ptr("ptr", self.symbol(symbols.machine("cc_flags_slot")))
        # memory(none): the helper is a pure function of its arguments, so LLVM may keep
        # guest state in registers across the call.
        return self.call(helper.ref, "i32", args + [self.field("eflags")], attrs=" memory(none) nounwind")

    def cond_dynamic(self, cc):
        """A condition on flags recorded before the block: a jcc that starts a block usually
        tests the same cmp or test as a jcc that ended the block before it (gcc's usual
        pattern), so it is speculated on (`_speculate`): one compare for a cmp."""
        return self._speculate(lambda: flags.evaluate(self, cc))

    def flag_dynamic(self, name):
        """One flag recorded before the block (an adc after an add, the carry an inc keeps
        round a loop), speculated like a condition; the generic arm calls the helper."""
        if self.generic_arm:
            return flags.bit(self, self.compute_all_dynamic(), FLAG_BITS[name], 32)
        return self._speculate(lambda: self.flag(name))

    def _speculate(self, compute):
        """`compute()`, a 1-bit value of the flags, in one arm per op of SPECULATED_CC with
        that op known statically (LLVM reduces it to the one flag or compare needed), and in
        a generic arm that calls the flags helper; the arms join in a phi."""
        fields = [self.field(name) for name in CC_FIELDS]
        self.field("eflags")                  # loaded here, before the arms: it must dominate later uses
        join = self.fn.label("cond")
        arms = [(flags.encode(op, w), self.fn.label(f"cc_{flags.OP_NAMES[op].lower()}{w}"), (op, w))
                for op, w in SPECULATED_CC]
        generic = self.fn.label("cc_other")
        self.switch(fields[0], generic, [(code, label) for code, label, _ in arms])
        incoming = []
        for _, label, op_w in arms + [(None, generic, None)]:
            self.start(label)
            if op_w is None:
                self.generic_arm = True
            else:
                op, w = op_w
                self.cc = (op, w, *(self.trunc(v, 32, w) for v in fields[1:]))
            incoming.append((compute(), self.current))
            self.cc, self.generic_arm = None, False
            self.br(join)
        self.start(join)
        return self.phi("i1", incoming)

    generic_arm = False        # True while _speculate writes its arm for any other op


def tlb_entry(b, view, linear):
    """IR: the i64 entry of the i32 `linear`'s page in the TLB view whose table is at `view`
    (i64): `host page - linear page + 1`, or 0 (vmm.x86.tlb)."""
    page = b.zext(b.lshr(linear, b.const(12, 32), 32), 32, 64)
    return b.load_ptr("i64", b.inttoptr(b.add(view, b.shl(page, b.const(3, 64), 64), 64)))


def entry_host(b, entry, linear):
    """IR: the i64 host address of the i32 `linear` from its page's nonzero TLB entry."""
    return b.add(b.sub(entry, b.const(1, 64), 64), b.zext(linear, 32, 64), 64)


def tlb_host(b, view, linear, kind, fail_if):
    """IR: the host address (i64) of the i32 `linear` through the TLB view whose table is at
    `view` (i64), calling the fill trampoline with `kind` (bit 0 write, bit 1 user) on a miss;
    `fail_if(cond)` leaves when the fill finds no entry (a #PF, or not RAM).  Written once for
    inline paged accesses (LLVMBuilder) and fast_host (vmm.translator.fastpath)."""
    cached = tlb_entry(b, view, linear)
    before, fill, join = b.current, b.fn.label("tlb_fill"), b.fn.label("tlb")
    b.cbranch(b.eq(cached, b.const(0, 64), 64), fill, join)
    b.start(fill)
    helper = b.load_ptr("ptr", b.symbol(symbols.machine("tlb_fill_slot")))
    filled = b.call(helper.ref, "i64", [STATE, linear, kind], attrs=" nounwind", cc=FILL_CC)
    fail_if(b.eq(filled, b.const(0, 64), 64))       # only the miss path tests this
    filled_from = b.current
    b.br(join)
    b.start(join)
    return entry_host(b, b.phi("i64", [(cached, before), (filled, filled_from)]), linear)


def code_check(b, first, last, fail_if):
    """IR: `fail_if(cond)` with cond true if the code-granule map (vmm.memory) marks the
    granule of the i32 physical address `first` or of `last` (in the same granule or the
    next: stores are at most 64 bytes).  A granule's byte also says whether the next one
    holds code, so a store to data that has no code next to it costs one byte load and
    one test; the exact test runs only beside code."""
    granule = b.lshr(first, b.const(CODE_SHIFT, 32), 32)
    code_map = b.symbol_int(symbols.machine("code_map"))
    near = b.load_ptr("i8", b.inttoptr(b.add(code_map, b.zext(granule, 32, 64), 64)))
    exact, join = b.fn.label("code_near"), b.fn.label("no_code")
    b.cbranch(b.eq(near, b.const(0, 8), 8), join, exact)
    b.start(exact)
    here = b.ne(b.and_(near, b.const(CODE_HERE, 8), 8), b.const(0, 8), 8)
    if last is not first:
        crosses = b.ne(b.lshr(last, b.const(CODE_SHIFT, 32), 32), granule, 32)
        next_ = b.ne(b.and_(near, b.const(CODE_NEXT, 8), 8), b.const(0, 8), 8)
        here = b.or_(here, b.and_(crosses, next_, 1), 1)
    fail_if(here)
    b.br(join)
    b.start(join)


def define_cc_helper(module):
    """`i32 cc_flags(cc_op, dst, src, src2, eflags)`: the six arithmetic flags (at their EFLAGS
    bits) of a lazily recorded operation whose op is only known at run time.  It is compiled
    once per machine; blocks call it through a slot (MemoryLayout.cc_flags_slot)."""
    fn = module.function("cc_flags", "i32", ["i32 %op", "i32 %dst", "i32 %src", "i32 %src2", "i32 %eflags"],
                         attrs="nounwind ")
    a = TextArith(fn, module)
    cc_op, dst, src, src2, eflags = (Value(f"%{n}", "i32") for n in ("op", "dst", "src", "src2", "eflags"))
    a.start("entry")
    cases = [(flags.encode(op, w), f"{flags.OP_NAMES[op]}{w}")
             for op in range(1, len(flags.OP_NAMES)) for w in flags.WIDTHS]
    a.switch(cc_op, "materialized", cases)
    a.start("materialized")
    a.ret(a.and_(eflags, a.const(0x8D5, 32), 32))
    for (value, label), (op, w) in zip(cases, [(op, w) for op in range(1, len(flags.OP_NAMES)) for w in flags.WIDTHS]):
        a.start(label)
        ops = [a.trunc(v, 32, w) for v in (dst, src, src2)]
        a.ret(flags.compute_all(a, op, w, *ops))


FILL_CC = "preserve_mostcc"
