"""Native helpers: guest x87 instructions run on the host's own x87 unit, for both engines.

Why this way: the host (x86-64) has the very FPU the guest expects, so the exact result of
an x87 instruction -- 80-bit arithmetic, rounding and precision control, C0-C3, the
exception flags, stack faults, the tag word, fprem's partial remainders, fxam's classes --
is what the host instruction produces.  A helper loads the guest's FPU (CpuState.fpu, an
FNSAVE image) into the host with FRSTOR, executes the guest's own opcode and ModRM byte
(a memory operand rewritten to `[rsi]`, a buffer holding the guest operand), and FNSAVEs
the result back; nothing of x87 arithmetic is re-implemented, so nothing can be inexact.
Each helper is a small LLVM IR function (inline asm in a wrapper that fixes up the image),
compiled once per process with llvmlite when first asked for; translated code calls it at
its address, the interpreter through ctypes (Builder.native).  It needs an x86-64 host
with LAHF in 64-bit mode (every x86-64 CPU but the first Pentium 4s).

Cost: FRSTOR + FNSAVE dominate (about 150 ns together on this project's AMD EPYC VM).
So the common forms -- two-operand arithmetic and its popping forms, fld/fild/fst(p)/
fist(p)/fisttp with memory, fld/fst(p)/fxch with ST(i), fchs, fabs, the constants -- have a
fast path (`plan`, `_fast_ir`): when every exception is masked, the operands are there and
a push has room (so the host's masked response is the whole story), they load just their
operands with FLDT, run the guest opcode, store the results, merge the host's exception
flags and C1 into the image, move TOP and rotate the image's registers, and classify the
written registers' tags as FNSAVE would.  Anything else (a stack fault, an unmasked
exception) calls the exact helper.  Both paths are checked against the host CPU
(tests/x86/test_x87_host.py); a translated x87 loop runs about 4x faster with it.

Helpers all have the signature `i64 (ptr state, i64 a, i64 b, i64 ip, i64 dp)`:
  x87_<opcode><modrm>  run one form (vmm.x86.fpu.forms; `_exact` suffix: the FRSTOR path
                       of a form that has a fast path): a, b = the memory operand's
                       bytes 0-7 and 8-15 (for a store: its old contents, which stay if
                       an unmasked exception stops the store; for fcmovcc: the condition
                       in a); returns io's first 8 bytes, or the host's lahf flags for
                       the fcomi family
  x87_read             the 8 bytes at offset `a` of CpuState.fpu
  x87_write            store `b` (8 bytes) at offset `a` of CpuState.fpu
  x87_commit           `pending` becomes the FPU state

Example:
    fn = function("x87_d8c1")               # fadd st(0), st(1)
    fn(ctypes.addressof(state), 0, 0, ip, 0)
    address("x87_d8c1")                     # what translated code calls
"""

import ctypes
import threading
from dataclasses import dataclass

import llvmlite.binding as llvm

from ..state import CpuState, FpuState, FPU_IMAGE_SIZE
from .forms import from_name

SIGNATURE = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, *[ctypes.c_uint64] * 4)
FPU = CpuState.fpu.offset
PENDING, IO = FpuState.pending.offset, FpuState.io.offset
POINTERS = FpuState.fip.offset           # fip, fcs|fop, fdp, fds: 16 bytes
_PARAMS = "ptr %s, i64 %a, i64 %b, i64 %ip, i64 %dp"
_MEMCPY = "declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)"


def _asm(form):
    """The inline asm: save the host CW, load the guest image, run the guest's opcode and
    ModRM, keep the flags, store the image (a no-wait instruction, which reinitialises the
    FPU, so nothing is left pending), restore the host CW."""
    setup = "btl $$0, (%rsi)\n\t" if form.fcmov else ""      # CF = the fcmov condition
    return (f"fnstcw ($3)\n\tfrstor ($1)\n\t{setup}.byte {form.opcode:#x}, {form.modrm:#x}\n\t"
            "lahf\n\tfnsave ($2)\n\tfldcw ($3)")


def _run_ir(form, name):
    """IR of the exact helper for one form: the whole FPU through FRSTOR and FNSAVE."""
    lines = [
        f"define i64 @{name}({_PARAMS}) nounwind {{",
        f"  %fpu = getelementptr i8, ptr %s, i64 {FPU}",
        f"  %io = getelementptr i8, ptr %fpu, i64 {IO}",
        f"  %dest = getelementptr i8, ptr %fpu, i64 {PENDING if form.store else 0}",
        "  %img = alloca [112 x i8], align 16",
        "  %out = alloca [112 x i8], align 16",
        "  %hostcw = alloca i16, align 2",
        f"  call void @llvm.memcpy.p0.p0.i64(ptr align 16 %img, ptr align 16 %fpu, i64 {FPU_IMAGE_SIZE}, i1 false)",
        "  %swp = getelementptr i8, ptr %img, i64 4",
        "  %sw0 = load i16, ptr %swp",
        "  %raised = and i16 %sw0, 127",                  # IE DE ZE OE UE PE SF
        "  %sw1 = and i16 %sw0, 32512",                   # flags, ES, B clear: nothing pending
        "  store i16 %sw1, ptr %swp",
    ]
    if form.fcmov or 0 < form.load <= 16 or 0 < form.store <= 16:
        lines += ["  store i64 %a, ptr %io", "  %io8 = getelementptr i8, ptr %io, i64 8", "  store i64 %b, ptr %io8"]
    lines += [
        f'  %ax = call i64 asm sideeffect "{_asm(form)}", "=&{{ax}},r,r,r,{{si}},~{{memory}},~{{dirflag}},~{{fpsr}},~{{flags}}"'
        "(ptr %img, ptr %out, ptr %hostcw, ptr %io)",
    ]
    lines += _status_fixup("%out", form.keeps_flags)
    pointers = "%out_ptrs"
    lines.append(f"  {pointers} = getelementptr i8, ptr %out, i64 {POINTERS}")
    if form.env_in:
        lines.append(f"  %src_ptrs = getelementptr i8, ptr %io, i64 {POINTERS}")
        lines.append(f"  call void @llvm.memcpy.p0.p0.i64(ptr {pointers}, ptr %src_ptrs, i64 16, i1 false)")
    elif form.resets:
        pass
    elif form.control:
        lines.append(f"  %old_ptrs = getelementptr i8, ptr %fpu, i64 {POINTERS}")
        lines.append(f"  call void @llvm.memcpy.p0.p0.i64(ptr {pointers}, ptr %old_ptrs, i64 16, i1 false)")
    else:
        lines.append(f"  store i64 %ip, ptr {pointers}")
        dp_at = "%old_dp" if not form.memory else "%dp"
        if not form.memory:
            lines.append(f"  %old_dpp = getelementptr i8, ptr %fpu, i64 {POINTERS + 8}")
            lines.append("  %old_dp = load i64, ptr %old_dpp")
        lines.append(f"  %out_dpp = getelementptr i8, ptr %out, i64 {POINTERS + 8}")
        lines.append(f"  store i64 {dp_at}, ptr %out_dpp")
    if form.env_out:
        # The image the guest gets: its own flags, ES/B and pointers.
        lines += _status_fixup("%io", True, prefix="e")
        lines.append(f"  %io_ptrs = getelementptr i8, ptr %io, i64 {POINTERS}")
        lines.append(f"  %prev_ptrs = getelementptr i8, ptr %fpu, i64 {POINTERS}")
        lines.append("  call void @llvm.memcpy.p0.p0.i64(ptr %io_ptrs, ptr %prev_ptrs, i64 16, i1 false)")
    lines.append(f"  call void @llvm.memcpy.p0.p0.i64(ptr align 16 %dest, ptr align 16 %out, i64 {FPU_IMAGE_SIZE}, i1 false)")
    if form.flags:
        lines += ["  %ah = lshr i64 %ax, 8", "  %r = and i64 %ah, 255", "  ret i64 %r", "}"]
    else:
        lines += ["  %r = load i64, ptr %io", "  ret i64 %r", "}"]
    return "\n".join(lines)


def _status_fixup(image, keep_flags, prefix="s"):
    """IR: merge the flags raised before (`%raised`) into `image`'s status word if
    `keep_flags`, and recompute ES and B (bits 7, 15) from the flags and its control word."""
    p = f"%{prefix}"
    return [
        f"  {p}cw = load i16, ptr {image}",
        f"  {p}swp = getelementptr i8, ptr {image}, i64 4",
        f"  {p}sw_host = load i16, ptr {p}swp",
        f"  {p}sw = or i16 {p}sw_host, {'%raised' if keep_flags else 0}",
        f"  {p}unmasked = xor i16 {p}cw, -1",
        f"  {p}raised = and i16 {p}sw, {p}unmasked",
        f"  {p}pending = and i16 {p}raised, 63",
        f"  {p}any = icmp ne i16 {p}pending, 0",
        f"  {p}es = select i1 {p}any, i16 -32640, i16 0",      # 0x8080
        f"  {p}kept = and i16 {p}sw, 32639",                    # ~0x8080
        f"  {p}new = or i16 {p}kept, {p}es",
        f"  store i16 {p}new, ptr {p}swp",
    ]


_SMALL = {
    "x87_read": ["  %p = getelementptr i8, ptr %fpu, i64 %a", "  %v = load i64, ptr %p, align 1", "  ret i64 %v"],
    "x87_write": ["  %p = getelementptr i8, ptr %fpu, i64 %a", "  store i64 %b, ptr %p, align 1", "  ret i64 0"],
    "x87_commit": [f"  %p = getelementptr i8, ptr %fpu, i64 {PENDING}",
                   f"  call void @llvm.memcpy.p0.p0.i64(ptr align 16 %fpu, ptr align 16 %p, i64 {FPU_IMAGE_SIZE}, i1 false)",
                   "  ret i64 0"],
}


def _ir(name):
    if name in _SMALL:
        body = [f"define i64 @{name}({_PARAMS}) nounwind {{", f"  %fpu = getelementptr i8, ptr %s, i64 {FPU}",
                *_SMALL[name], "}"]
        return "\n".join(body)
    form = from_name(name)
    fast = plan(form)
    if fast is None:
        return _run_ir(form, name)
    return _run_ir(form, f"{name}_exact") + "\n\n" + _fast_ir(form, fast, name)


# ---- the fast path: common forms without FRSTOR/FNSAVE ------------------------------------
ARITH_REGS = (0, 1, 4, 5, 6, 7)           # fadd fmul fsub fsubr fdiv fdivr (2, 3 are compares)
ST0 = FpuState.st.offset                  # ST(i) is at ST0 + 10 * i in the image
NEW = "new"                               # a pushed value (it becomes ST(0))
# fld m32/m64/m80, fild m16/m32/m64
FAST_LOADS = {(0xD9, 0), (0xDD, 0), (0xDB, 5), (0xDB, 0), (0xDF, 0), (0xDF, 5)}
# fst(p) m32/m64, fstp m80, fist(p) m16/m32, fistp m64, fisttp m16/m32/m64
FAST_STORES = {(0xD9, 2), (0xD9, 3), (0xDD, 2), (0xDD, 3), (0xDB, 7), (0xDB, 1), (0xDB, 2), (0xDB, 3),
               (0xDD, 1), (0xDF, 1), (0xDF, 2), (0xDF, 3), (0xDF, 7)}


@dataclass(frozen=True)
class Plan:
    """How the fast path runs a form: `loads` (ST indices) go onto the host stack in that
    order, then `op` (opcode, ModRM) runs (None: no host instruction), then the host stack is
    stored to `outs` from its top (an ST index, NEW, or None to drop it); `pop`/`push` move
    TOP.  `need`: ST indices that must hold a value (else the exact path reports the stack
    fault)."""
    loads: tuple
    op: object
    outs: tuple
    pop: bool = False
    push: bool = False

    @property
    def need(self):
        return self.loads


def plan(form):
    """The fast-path Plan of a form, or None (exact path only)."""
    opcode, modrm, reg, i = form.opcode, form.modrm, form.modrm >> 3 & 7, form.modrm & 7
    op = (opcode, (modrm & 0xF8) | (6 if form.memory else 1))
    if form.memory:
        if reg in ARITH_REGS and opcode in (0xD8, 0xDA, 0xDC, 0xDE):
            return Plan((0,), op, (0,))
        if (opcode, reg) in FAST_LOADS:
            return Plan((), op, (NEW,), push=True)
        if (opcode, reg) in FAST_STORES:
            pops = reg in (1, 3, 7)
            return Plan((0,), op, () if pops else (None,), pop=pops)
        return None
    if opcode == 0xD8 and reg in ARITH_REGS:
        return Plan((i, 0), op, (0, None))
    if opcode == 0xDC and reg in ARITH_REGS:
        return Plan((i, 0), op, (None, i))
    if opcode == 0xDE and reg in ARITH_REGS and i:
        return Plan((i, 0), op, (i,), pop=True)
    if opcode == 0xD9 and reg == 0:
        return Plan((i,), None, (NEW,), push=True)                          # fld st(i)
    if opcode == 0xD9 and reg == 1:
        return Plan((0, i), None, (0, i))                                   # fxch st(i)
    if opcode == 0xD9 and modrm in (0xE0, 0xE1):
        return Plan((0,), (opcode, modrm), (0,))                            # fchs, fabs
    if opcode == 0xD9 and 0xE8 <= modrm <= 0xEE:
        return Plan((), (opcode, modrm), (NEW,), push=True)                 # constants
    if opcode == 0xDD and reg in (2, 3):
        return Plan((0,), None, (i,), pop=reg == 3)                         # fst, fstp st(i)
    return None


def _fast_asm(p):
    """Host code for a Plan: the guest CW, no flags, the operands, the op, the status word,
    the results stored, the host CW back.  Image slots are addressed from $4, [rsi] is io."""
    loads = [f"fldt {ST0 + 10 * k}($4)" for k in p.loads]
    op = [f".byte {p.op[0]:#x}, {p.op[1]:#x}"] if p.op else []
    outs = ["fstp %st(0)" if k is None else "fstpt ($5)" if k == NEW else f"fstpt {ST0 + 10 * k}($4)"
            for k in p.outs]
    return "\n\t".join(["fnstcw ($1)", "fldcw ($2)", "fnclex", *loads, *op, "fnstsw %ax", *outs, "fldcw ($1)"])


def _fast_ir(form, p, name):
    """The helper: the fast path when every exception is masked, the operands are there and
    a push has room (then the host's masked response is the whole story), else the exact
    helper.  The status word takes the host's exception flags and C1 (C0, C2, C3 stay, as
    the hardware leaves them); written registers' tags are classified as FNSAVE would."""
    lines = [
        f"define i64 @{name}({_PARAMS}) nounwind {{",
        f"  %fpu = getelementptr i8, ptr %s, i64 {FPU}",
        "  %cw = load i16, ptr %fpu",
        "  %sw0p = getelementptr i8, ptr %fpu, i64 4", "  %sw = load i16, ptr %sw0p",
        "  %tw0p = getelementptr i8, ptr %fpu, i64 8", "  %tw = load i16, ptr %tw0p",
        "  %sw_top = lshr i16 %sw, 11", "  %top = and i16 %sw_top, 7",
        "  %masks = and i16 %cw, 63", "  %ok_m = icmp eq i16 %masks, 63",
    ]
    ok = "%ok_m"
    checks = [(k, "ne") for k in p.need] + ([(7, "eq")] if p.push else [])
    for n, (k, pred) in enumerate(checks):
        lines += _tag(f"c{n}", k) + [f"  %ok{n}_t = icmp {pred} i16 %c{n}_tag, 3", f"  %ok{n} = and i1 {ok}, %ok{n}_t"]
        ok = f"%ok{n}"
    img = "%pending" if form.store else "%fpu"
    lines += [f"  br i1 {ok}, label %fast, label %exact",
              "exact:",
              f"  %r = tail call i64 @{name}_exact(ptr %s, i64 %a, i64 %b, i64 %ip, i64 %dp)",
              "  ret i64 %r",
              "fast:",
              f"  %io = getelementptr i8, ptr %fpu, i64 {IO}",
              "  store i64 %a, ptr %io", "  %io8 = getelementptr i8, ptr %io, i64 8", "  store i64 %b, ptr %io8",
              f"  %pending = getelementptr i8, ptr %fpu, i64 {PENDING}",
              "  %hostcw = alloca i16, align 2", "  %guestcw = alloca i16, align 2", "  store i16 %cw, ptr %guestcw",
              "  %newv = alloca [16 x i8], align 16"]
    if form.store:
        lines.append(f"  call void @llvm.memcpy.p0.p0.i64(ptr align 16 %pending, ptr align 16 %fpu, i64 {FPU_IMAGE_SIZE}, i1 false)")
    lines += [f'  %hsw = call i16 asm sideeffect "{_fast_asm(p)}", '
              '"=&{ax},r,r,{si},r,r,~{memory},~{dirflag},~{fpsr},~{flags}"'
              f"(ptr %hostcw, ptr %guestcw, ptr %io, ptr {img}, ptr %newv)",
              "  %sw_kept = and i16 %sw, 32127",                 # all but C1, ES, B (0x7D7F)
              "  %host_bits = and i16 %hsw, 575",                # IE..PE and C1 (0x023F)
              "  %sw1 = or i16 %sw_kept, %host_bits"]
    tw = "%tw"
    for n, k in enumerate(k for k in p.outs if k is not None):
        lines += _tag(f"w{n}", 7 if k == NEW else k, value="%newv" if k == NEW else f"{img}", slot=k)
        lines += [f"  %tw_c{n} = and {'i16'} {tw}, %w{n}_keep", f"  %tw_v{n} = shl i16 %w{n}_value, %w{n}_shift",
                  f"  %tw_w{n} = or i16 %tw_c{n}, %tw_v{n}"]
        tw = f"%tw_w{n}"
    sw = "%sw1"
    if p.pop or p.push:
        lines += _tag("pp", 0)
        if p.pop:
            lines += [f"  %tw_pop = or i16 {tw}, %pp_bits3"]      # the old ST(0) is empty
            tw = "%tw_pop"
        lines += [f"  %top1 = add i16 %top, {1 if p.pop else 7}", "  %top2 = and i16 %top1, 7",
                  "  %top3 = shl i16 %top2, 11", "  %sw_notop = and i16 %sw1, -14337",   # ~0x3800
                  "  %sw2 = or i16 %sw_notop, %top3"]
        lines += _rotate(img, p.push)
        sw = "%sw2"
    lines += [f"  %swp = getelementptr i8, ptr {img}, i64 4", f"  store i16 {sw}, ptr %swp",
              f"  %twp = getelementptr i8, ptr {img}, i64 8", f"  store i16 {tw}, ptr %twp",
              f"  %ipp = getelementptr i8, ptr {img}, i64 {POINTERS}", "  store i64 %ip, ptr %ipp"]
    if form.memory:
        lines += [f"  %dpp = getelementptr i8, ptr {img}, i64 {POINTERS + 8}", "  store i64 %dp, ptr %dpp"]
    lines += ["  %ret = load i64, ptr %io", "  ret i64 %ret", "}"]
    return "\n".join(lines)


def _tag(p, k, value=None, slot=None):
    """IR: %{p}_tag, the tag of ST(k) (k = 7 for a push: the register that becomes ST(0));
    %{p}_bits3 its two bits set, %{p}_keep the others, %{p}_shift; with `value` (the image
    or %newv holding the register), %{p}_value: the tag its contents call for."""
    lines = [f"  %{p}_phys0 = add i16 %top, {k}", f"  %{p}_phys = and i16 %{p}_phys0, 7",
             f"  %{p}_shift = shl i16 %{p}_phys, 1", f"  %{p}_tw = lshr i16 %tw, %{p}_shift",
             f"  %{p}_tag = and i16 %{p}_tw, 3", f"  %{p}_bits3 = shl i16 3, %{p}_shift",
             f"  %{p}_keep = xor i16 %{p}_bits3, -1"]
    if value:
        at = 0 if slot == NEW else ST0 + 10 * slot
        # valid 00, zero 01, special 10 (NaN, infinity, denormal, unnormal), as FNSAVE computes
        lines += [f"  %{p}_mp = getelementptr i8, ptr {value}, i64 {at}",
                  f"  %{p}_m = load i64, ptr %{p}_mp, align 1",
                  f"  %{p}_ep = getelementptr i8, ptr %{p}_mp, i64 8",
                  f"  %{p}_se = load i16, ptr %{p}_ep, align 1", f"  %{p}_e = and i16 %{p}_se, 32767",
                  f"  %{p}_max = icmp eq i16 %{p}_e, 32767", f"  %{p}_min = icmp eq i16 %{p}_e, 0",
                  f"  %{p}_mzero = icmp eq i64 %{p}_m, 0", f"  %{p}_jbit = icmp slt i64 %{p}_m, 0",
                  f"  %{p}_lowv = select i1 %{p}_mzero, i16 1, i16 2",
                  f"  %{p}_normv = select i1 %{p}_jbit, i16 0, i16 2",
                  f"  %{p}_v1 = select i1 %{p}_min, i16 %{p}_lowv, i16 %{p}_normv",
                  f"  %{p}_value = select i1 %{p}_max, i16 2, i16 %{p}_v1"]
    return lines


def _rotate(img, push):
    """IR: the image's registers after a pop (ST(k) = old ST(k + 1), ST(7) = old ST(0)) or a
    push (ST(0) = %newv, ST(k) = old ST(k - 1))."""
    lines = []
    for k in range(8):
        lines += [f"  %rp{k} = getelementptr i8, ptr {img}, i64 {ST0 + 10 * k}",
                  f"  %rm{k} = load i64, ptr %rp{k}, align 1",
                  f"  %rq{k} = getelementptr i8, ptr %rp{k}, i64 8", f"  %re{k} = load i16, ptr %rq{k}, align 1"]
    if push:
        lines += ["  %rm8 = load i64, ptr %newv", "  %nq = getelementptr i8, ptr %newv, i64 8",
                  "  %re8 = load i16, ptr %nq"]
    for k in range(8):
        src = (8 if k == 0 else k - 1) if push else (k + 1) % 8
        lines += [f"  store i64 %rm{src}, ptr %rp{k}, align 1", f"  store i16 %re{src}, ptr %rq{k}, align 1"]
    return lines


class _Helpers:
    """The process's helper code: one MCJIT engine in an LLVM context of its own, a module
    per helper, added the first time a helper is asked for (from any thread)."""

    def __init__(self):
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        llvm.initialize_native_asmparser()
        self.lock = threading.Lock()
        self.context = llvm.create_context()
        target = llvm.Target.from_default_triple()
        self.machine = target.create_target_machine(opt=2, codemodel="jitdefault")
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly("", context=self.context), self.machine)
        self.addresses = {}
        self.functions = {}

    def address(self, name):
        with self.lock:
            addr = self.addresses.get(name)
            if addr is None:
                text = f"{_MEMCPY}\n\n{_ir(name)}\n"
                module = llvm.parse_assembly(text, context=self.context)
                module.verify()
                self.engine.add_module(module)
                self.engine.finalize_object()
                addr = self.addresses[name] = self.engine.get_function_address(name)
            return addr

    def function(self, name):
        fn = self.functions.get(name)
        if fn is None:
            fn = self.functions[name] = SIGNATURE(self.address(name))
        return fn


_helpers = None
_create_lock = threading.Lock()


def _get():
    global _helpers
    with _create_lock:
        if _helpers is None:
            _helpers = _Helpers()
        return _helpers


def address(name):
    """The host address of helper `name` (compiled on first use), for translated code."""
    return _get().address(name)


def function(name):
    """Helper `name` as a ctypes function (state address, a, b, ip, dp) -> int."""
    return _get().function(name)
