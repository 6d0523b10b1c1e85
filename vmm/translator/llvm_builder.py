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

Side exits keep exceptions precise: a check that fails (raise_if, a memory
access outside RAM, a store to a page holding code) branches to an exit that
writes back the state as it was *before* the current instruction, sets EIP to
it and returns STEP, so the monitor re-runs that one instruction in the
interpreter, which raises the fault or performs the slow access.  This works
because semantics do all checks and loads before stores and register writes
(the invariant stated in vmm.x86.builder).

Example:
    fb = LLVMBuilder(module, "b_100000", layout)
    for insn in block: fb.emit(insn)
    fb.finish()
"""

import ctypes

from llvmlite import ir

from ..x86 import flags
from ..x86.builder import Builder
from ..x86.state import CpuState, FLAG_BITS
from ..memory import CODE_SHIFT
from .exits import CONTINUE, BUDGET, STEP
from .ir_arith import IRArith, INT

I8P = ir.PointerType()


def _field_offsets():
    """name -> (byte offset, width) for every CpuState field semantics may name."""
    table = {}
    for name in ("eip", "eflags", "cc_op", "cc_dst", "cc_src", "cc_src2"):
        table[name] = (getattr(CpuState, name).offset, 32)
    for name in ("tsc", "icount", "icount_limit"):
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


class MemoryLayout:
    """Host addresses baked into translated code: guest RAM, its size, the code-page map."""

    def __init__(self, memory):
        self.ram = memory.host_address
        self.size = memory.size
        self.code_map = ctypes.addressof(memory.code_map)


class LLVMBuilder(IRArith, Builder):
    """Emits one block function; `emit(insn)` per instruction, then `finish()`."""

    def __init__(self, module, name, layout, cc_helper, counter_address, eager=False):
        fn = ir.Function(module, ir.FunctionType(INT[32], [I8P]), name)
        fn.attributes.add("nounwind")
        # Only this pointer reaches CpuState inside a block (RAM, counters and chain slots are
        # other objects), so LLVM may keep state fields in registers across a loop.
        fn.args[0].add_attribute("noalias")
        self.fn = fn
        self.state_ptr = fn.args[0]
        entry = fn.append_basic_block("entry")
        super().__init__(ir.IRBuilder(entry), module)
        self.layout = layout
        self.cc_helper = cc_helper
        self.eager = eager
        self.values = {}          # field name -> current ir.Value
        self.dirty = set()        # fields written in this block
        self.cc = None            # (op, w, dst, src, src2) once known statically
        self.cc_dirty = False
        self.done = 0             # instructions completed before the current one
        self.insn = None
        self.target = None
        self.icount0 = self._load_field("icount")
        limit = self._load_field("icount_limit")
        over = self.ir.icmp_unsigned(">=", self.icount0, limit)
        with self.ir.if_then(over, likely=False):
            self.ir.ret(ir.Constant(INT[32], BUDGET))
        counter = self.ir.inttoptr(self.const(counter_address, 64), I8P)   # executions, for tiers
        self.ir.store(self.add(self.ir.load(counter, typ=INT[64]), self.const(1, 64), 64), counter)

    # ---- raw state access ------------------------------------------------------------------
    def _ptr(self, offset):
        return self.ir.gep(self.state_ptr, [ir.Constant(INT[64], offset)], source_etype=INT[8])

    def _load_field(self, name):
        offset, w = OFFSETS[name]
        return self.ir.load(self._ptr(offset), typ=INT[w])

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
        self.ir.store(v, self._ptr(OFFSETS[name][0]))

    def reg(self, index, w, shift):
        full = self.field(f"gpr{index}")
        if w == 32:
            return full
        part = self.lshr(full, self.const(shift, 32), 32) if shift else full
        return self.trunc(part, 32, w)

    def set_reg(self, index, v, w, shift):
        name = f"gpr{index}"
        if w == 32:
            self.set_field(name, v)
            return
        keep = self.const(~(((1 << w) - 1) << shift) & 0xFFFFFFFF, 32)
        part = self.zext(v, w, 32)
        if shift:
            part = self.shl(part, self.const(shift, 32), 32)
        self.set_field(name, self.or_(self.and_(self.field(name), keep, 32), part, 32))

    def seg_base(self, seg):
        return self.field(f"seg{seg}.base")

    # ---- memory: inline RAM access with a slow-path exit -----------------------------------
    def _host_pointer(self, linear, w, store):
        # RAM is below 4 GiB - 8, so a 32-bit compare of the last byte's address suffices.
        self._exit_if(self.ult(self.const(self.layout.size - w // 8, 32), linear, 32))
        host = self.add(self.const(self.layout.ram, 64), self.zext(linear, 32, 64), 64)
        if store:
            granule = self.zext(self.lshr(linear, self.const(CODE_SHIFT, 32), 32), 32, 64)
            flag_addr = self.ir.inttoptr(self.add(self.const(self.layout.code_map, 64), granule, 64), I8P)
            last = self.zext(self.lshr(self.add(linear, self.const(w // 8 - 1, 32), 32),
                                       self.const(CODE_SHIFT, 32), 32), 32, 64) if w > 8 else None
            is_code = self.ne(self.ir.load(flag_addr, typ=INT[8]), self.const(0, 8), 8)
            if last is not None:                # an unaligned store may touch the next granule
                last_addr = self.ir.inttoptr(self.add(self.const(self.layout.code_map, 64), last, 64), I8P)
                is_code = self.or_(is_code, self.ne(self.ir.load(last_addr, typ=INT[8]), self.const(0, 8), 8), 1)
            self._exit_if(is_code)
        return self.ir.inttoptr(host, I8P)

    def load(self, linear, w):
        return self.ir.load(self._host_pointer(linear, w, False), typ=INT[w], align=1)

    def store(self, linear, v, w):
        self.ir.store(v, self._host_pointer(linear, w, True), align=1)

    # ---- control ---------------------------------------------------------------------------
    def begin(self, insn):
        self.insn, self.target, self.exit_block = insn, None, None
        self.snapshot = (dict(self.values), set(self.dirty), self.cc, self.cc_dirty)

    def jump(self, target):
        self.target = target

    def raise_if(self, cond, vector, error_code=None):
        self._exit_if(cond)

    def skip_unless(self, cond):
        """The rest of the instruction runs only if cond; otherwise it retires doing nothing."""
        with self.ir.if_then(self.xor(cond, self.const(1, 1), 1), likely=False):
            self._write_back(*self.snapshot, eip=self.const(self.insn.next, 32), retired=self.done + 1)
            self.ir.ret(ir.Constant(INT[32], CONTINUE))

    def _exit_if(self, cond):
        """Leave the block before the current instruction (state as it was) with STEP.
        All checks of one instruction share one exit path (it writes back the same state)."""
        if self.exit_block is None:
            here = self.ir.block
            self.exit_block = self.fn.append_basic_block(f"exit_{self.insn.address:x}")
            self.ir.position_at_end(self.exit_block)
            self._write_back(*self.snapshot, eip=self.const(self.insn.address, 32), retired=self.done)
            self.ir.ret(ir.Constant(INT[32], STEP))
            self.ir.position_at_end(here)
        go_on = self.fn.append_basic_block()
        self.ir.cbranch(cond, self.exit_block, go_on)
        self.ir.position_at_end(go_on)

    def _write_back(self, values, dirty, cc, cc_dirty, eip, retired):
        for name in sorted(dirty):
            self._store(name, values[name])
        if cc_dirty:
            self._store_cc(cc)
        self.ir.store(eip, self._ptr(OFFSETS["eip"][0]))
        if retired:
            self.ir.store(self.add(self.icount0, self.const(retired, 64), 64), self._ptr(OFFSETS["icount"][0]))

    def emit(self, insn):
        """Emit one instruction's semantics; returns True if it transferred control."""
        self.begin(insn)
        insn.spec.sem(self, insn)
        self.done += 1
        return self.target is not None

    def finish(self, fallthrough, chain_slot=None, own_address=None):
        """Close the block: write state back, EIP = jump target or `fallthrough`, then chain.

        For each successor known now (a constant EIP, or a select between two constants as
        a jcc makes), `chain_slot(address)` gives a native slot holding that block's code
        address or 0; the block tail-calls through it, so translated code runs block to
        block without the dispatcher (QEMU goto_tb).  Anything else returns CONTINUE.
        A jump back to `own_address` calls this very function directly: LLVM turns the
        self tail call into a loop.  That is safe because a block is only ever invalidated
        from Python, which runs only after translated code has returned."""
        eip = self.target if self.target is not None else self.const(fallthrough, 32)
        self._write_back(self.values, self.dirty, self.cc, self.cc_dirty, eip, self.done)
        slots = [(t, chain_slot(t)) for t in _constant_targets(eip)] if chain_slot else []
        slots = [(t, slot) for t, slot in slots if slot is not None]
        if not slots:
            self.ir.ret(ir.Constant(INT[32], CONTINUE))
            return
        back = self.fn.append_basic_block("to_dispatcher")
        switch = self.ir.switch(eip, back)
        block_type = ir.FunctionType(INT[32], [I8P])
        for target, slot in slots:
            bb = self.fn.append_basic_block(f"chain_{target:x}")
            switch.add_case(ir.Constant(INT[32], target), bb)
            self.ir.position_at_end(bb)
            if target == own_address:
                self.ir.ret(self.ir.call(self.fn, [self.state_ptr], tail="musttail"))
                continue
            code = self.ir.load(self.ir.inttoptr(self.const(slot, 64), I8P), typ=INT[64])
            linked = self.fn.append_basic_block(f"linked_{target:x}")
            self.ir.cbranch(self.ne(code, self.const(0, 64), 64), linked, back)
            self.ir.position_at_end(linked)
            result = self.ir.call(self.ir.inttoptr(code, block_type.as_pointer()), [self.state_ptr],
                                  tail="musttail")
            self.ir.ret(result)
        self.ir.position_at_end(back)
        self.ir.ret(ir.Constant(INT[32], CONTINUE))

    # ---- lazy flags ------------------------------------------------------------------------
    def cc_get(self):
        return self.cc

    def cc_set(self, op, w, dst, src, src2):
        self.cc = (op, w, dst, src, src2)
        if self.eager:
            self._store_cc(self.cc)
        else:
            self.cc_dirty = True

    def _store_cc(self, cc):
        op, w, dst, src, src2 = cc
        self._store("cc_op", self.const(flags.encode(op, w), 32))
        for name, v in (("cc_dst", dst), ("cc_src", src), ("cc_src2", src2)):
            self._store(name, self.zext(v, w, 32))

    def compute_all_dynamic(self):
        """Arithmetic flags from the cc state the block was entered with (unknown op)."""
        args = [self._load_field(n) for n in ("cc_op", "cc_dst", "cc_src", "cc_src2")]
        return self.ir.call(self.cc_helper(), args + [self.field("eflags")])

    def flag_dynamic(self, name):
        return flags.bit(self, self.compute_all_dynamic(), FLAG_BITS[name], 32)


def _constant_targets(eip):
    """The constant values an EIP expression can take: one constant, or both arms of a
    select between constants (a jcc); otherwise none."""
    if isinstance(eip, ir.Constant):
        return [eip.constant]
    if isinstance(eip, ir.SelectInstr):
        arms = eip.operands[1:]
        if all(isinstance(arm, ir.Constant) for arm in arms):
            return sorted({arm.constant for arm in arms})
    return []


def cc_helper_for(module):
    """A function returning the module's cc_flags helper, defined on first use only (it is
    large, and most blocks never read flags they did not set themselves)."""
    defined = []

    def get():
        if not defined:
            defined.append(define_cc_helper(module))
        return defined[0]
    return get


def define_cc_helper(module):
    """`i32 cc_flags(cc_op, dst, src, src2, eflags)`: the six arithmetic flags (at their EFLAGS
    bits) of a lazily recorded operation whose op is only known at run time."""
    fn = ir.Function(module, ir.FunctionType(INT[32], [INT[32]] * 5), "cc_flags")
    fn.linkage = "internal"
    cc_op, dst, src, src2, eflags = fn.args
    entry = fn.append_basic_block("entry")
    default = fn.append_basic_block("eflags")
    a = IRArith(ir.IRBuilder(default), module)
    a.ir.ret(a.and_(eflags, a.const(0x8D5, 32), 32))
    switch = ir.IRBuilder(entry).switch(cc_op, default)
    for op in range(1, len(flags.OP_NAMES)):
        for w in flags.WIDTHS:
            bb = fn.append_basic_block(f"{flags.OP_NAMES[op]}{w}")
            switch.add_case(ir.Constant(INT[32], flags.encode(op, w)), bb)
            a = IRArith(ir.IRBuilder(bb), module)
            ops = [a.trunc(v, 32, w) for v in (dst, src, src2)]
            a.ir.ret(flags.compute_all(a, op, w, *ops))
    return fn
