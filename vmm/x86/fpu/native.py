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
So the two-operand arithmetic forms (fadd fsub fsubr fmul fdiv fdivr with ST(i), memory or
integer operands, and their popping forms) have a fast path (`_fast_ir`): when every
exception is masked and both operands are present -- so the host's response is the whole
story -- they load just their operands with FLDT, run the guest opcode, store the result
and merge the host's exception flags and C1 into the image, with the tag of the result
classified as FNSAVE would; anything else (an empty register, an unmasked exception)
calls the exact helper.  Both paths are checked against the host CPU (test_x87_host.py).

What the wrapper adds around the host instruction:
  * The host runs with the guest's control word, so rounding and precision control, and
    the response to unmasked exceptions (destination unchanged, no pop; biased results),
    are the hardware's.  Exception flags already raised are cleared in the image the host
    loads and merged back afterwards, so nothing is pending when the host instruction
    starts and the host never traps; ES/B are then recomputed.  A guest with an unmasked
    exception pending therefore gets no #MF (vmm.x86.semantics.x87 documents this).
  * FIP, FCS, FOP, FDP, FDS are the guest's (the host's would be its own RIP): set from
    the helper's `ip`/`dp` arguments for non-control instructions, loaded by fldenv and
    frstor, cleared by fninit and fnsave (the host's image has them cleared), else kept.
  * fnstenv/fnsave images written to `io` get the guest's flags, ES/B and pointers.
  * A form that stores to guest memory leaves its new image in `pending`: the semantics
    store the result and then call `x87_commit`, so a faulting store changes nothing.
The host FPU is left as FNSAVE leaves it (initialised), with the host's control word.

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
    kind = fast_kind(form)
    if kind is None:
        return _run_ir(form, name)
    return _run_ir(form, f"{name}_exact") + "\n\n" + _fast_ir(form, kind, name)


# ---- the fast path: two-operand arithmetic without FRSTOR/FNSAVE ---------------------------
ARITH_REGS = (0, 1, 4, 5, 6, 7)           # fadd fmul fsub fsubr fdiv fdivr (2, 3 are compares)
ST0 = FpuState.st.offset                  # ST(i) is at ST0 + 10 * i in the image


def fast_kind(form):
    """Which fast path a form has: "st0" (ST(0) op= ST(i) or memory), "sti" (ST(i) op= ST(0)),
    "pop" (the same, then pop), or None (the exact path only)."""
    reg = form.modrm >> 3 & 7
    if reg not in ARITH_REGS:
        return None
    if form.memory:
        return "st0" if form.opcode in (0xD8, 0xDA, 0xDC, 0xDE) else None
    i = form.modrm & 7
    return {0xD8: "st0", 0xDC: "sti", 0xDE: "pop" if i else None}.get(form.opcode)


def _fast_asm(form, kind):
    """Load the operands (ST(i) then ST(0): the host's ST(1), ST(0)), run the guest opcode on
    them with ModRM naming ST(1) (or [rsi]), keep the status word, store the result."""
    op = f".byte {form.opcode:#x}, {(form.modrm & 0xF8) | (6 if form.memory else 1):#x}"
    body = {"st0": "fstpt ($3)" + ("" if form.memory else "\n\tfstp %st(0)"),
            "sti": "fstp %st(0)\n\tfstpt ($4)",
            "pop": "fstpt ($4)"}[kind]
    load = "fldt ($3)" if form.memory else "fldt ($4)\n\tfldt ($3)"
    return f"fnstcw ($1)\n\tfldcw ($2)\n\tfnclex\n\t{load}\n\t{op}\n\tfnstsw %ax\n\t{body}\n\tfldcw ($1)"


def _fast_ir(form, kind, name):
    """The helper: the fast path when every exception is masked and both operands are there
    (nothing can need more than the host's own response then), else the exact helper.
    The status word takes the host's exception flags and C1 (C0, C2, C3 are left, as the
    hardware leaves them); the written register's tag is classified from its value."""
    i = 0 if form.memory else form.modrm & 7
    written = 0 if kind == "st0" else i
    lines = [
        f"define i64 @{name}({_PARAMS}) nounwind {{",
        f"  %fpu = getelementptr i8, ptr %s, i64 {FPU}",
        "  %cw = load i16, ptr %fpu",
        "  %swp = getelementptr i8, ptr %fpu, i64 4", "  %sw = load i16, ptr %swp",
        "  %twp = getelementptr i8, ptr %fpu, i64 8", "  %tw = load i16, ptr %twp",
        "  %sw_top = lshr i16 %sw, 11", "  %top = and i16 %sw_top, 7",
        "  %masks = and i16 %cw, 63", "  %masked = icmp eq i16 %masks, 63",
    ]
    lines += _tag("t0", "%top", 0) + _tag("ti", "%top", i)
    lines += ["  %full0 = icmp ne i16 %t0_tag, 3", "  %fulli = icmp ne i16 %ti_tag, 3",
              "  %ok1 = and i1 %masked, %full0", "  %ok = and i1 %ok1, %fulli",
              "  br i1 %ok, label %fast, label %exact",
              "exact:",
              f"  %r = tail call i64 @{name}_exact(ptr %s, i64 %a, i64 %b, i64 %ip, i64 %dp)",
              "  ret i64 %r",
              "fast:",
              f"  %io = getelementptr i8, ptr %fpu, i64 {IO}",
              "  store i64 %a, ptr %io",
              "  %hostcw = alloca i16, align 2", "  %guestcw = alloca i16, align 2",
              "  store i16 %cw, ptr %guestcw",
              f"  %p0 = getelementptr i8, ptr %fpu, i64 {ST0}",
              f"  %pi = getelementptr i8, ptr %fpu, i64 {ST0 + 10 * i}",
              f'  %hsw = call i16 asm sideeffect "{_fast_asm(form, kind)}", '
              '"=&{ax},r,r,r,r,{si},~{memory},~{dirflag},~{fpsr},~{flags}"'
              "(ptr %hostcw, ptr %guestcw, ptr %p0, ptr %pi, ptr %io)",
              "  %sw_kept = and i16 %sw, 32127",                 # all but C1, ES, B (0x7D7F)
              "  %host_bits = and i16 %hsw, 575",                # IE..PE and C1 (0x023F)
              "  %sw1 = or i16 %sw_kept, %host_bits"]
    lines += _tag("w", "%top", written, value=True)
    lines += ["  %tw_cleared = and i16 %tw, %w_keep", "  %w_tagged = shl i16 %w_value, %w_shift",
              "  %tw1 = or i16 %tw_cleared, %w_tagged"]
    if kind == "pop":
        lines += ["  %tw2 = or i16 %tw1, %t0_bits3",                # old ST(0) empty
                  "  %top1 = add i16 %top, 1", "  %top2 = and i16 %top1, 7", "  %top3 = shl i16 %top2, 11",
                  "  %sw_notop = and i16 %sw1, -14337", "  %sw2 = or i16 %sw_notop, %top3"]   # ~0x3800
        lines += _rotate()
        tw, sw = "%tw2", "%sw2"
    else:
        tw, sw = "%tw1", "%sw1"
    lines += [f"  store i16 {sw}, ptr %swp", f"  store i16 {tw}, ptr %twp",
              f"  %ipp = getelementptr i8, ptr %fpu, i64 {POINTERS}", "  store i64 %ip, ptr %ipp"]
    if form.memory:
        lines += [f"  %dpp = getelementptr i8, ptr %fpu, i64 {POINTERS + 8}", "  store i64 %dp, ptr %dpp"]
    lines += ["  ret i64 0", "}"]
    return "\n".join(lines)


def _tag(p, top, i, value=False):
    """IR: %{p}_tag, the tag of ST(i); %{p}_bits3 its two bits set, %{p}_keep the rest
    (and with value=True, %{p}_value: the tag ST(i)'s contents call for, and %{p}_shift)."""
    lines = [f"  %{p}_phys0 = add i16 {top}, {i}", f"  %{p}_phys = and i16 %{p}_phys0, 7",
             f"  %{p}_shift = shl i16 %{p}_phys, 1", f"  %{p}_tw = lshr i16 %tw, %{p}_shift",
             f"  %{p}_tag = and i16 %{p}_tw, 3", f"  %{p}_bits3 = shl i16 3, %{p}_shift",
             f"  %{p}_keep = xor i16 %{p}_bits3, -1"]
    if value:
        # valid 00, zero 01, special 10 (NaN, infinity, denormal, unnormal), as FNSAVE computes
        lines += [f"  %{p}_mp = getelementptr i8, ptr %fpu, i64 {ST0 + 10 * i}",
                  f"  %{p}_m = load i64, ptr %{p}_mp, align 1",
                  f"  %{p}_ep = getelementptr i8, ptr %fpu, i64 {ST0 + 10 * i + 8}",
                  f"  %{p}_se = load i16, ptr %{p}_ep, align 1", f"  %{p}_e = and i16 %{p}_se, 32767",
                  f"  %{p}_max = icmp eq i16 %{p}_e, 32767", f"  %{p}_min = icmp eq i16 %{p}_e, 0",
                  f"  %{p}_mzero = icmp eq i64 %{p}_m, 0", f"  %{p}_jbit = icmp slt i64 %{p}_m, 0",
                  f"  %{p}_lowv = select i1 %{p}_mzero, i16 1, i16 2",
                  f"  %{p}_normv = select i1 %{p}_jbit, i16 0, i16 2",
                  f"  %{p}_v1 = select i1 %{p}_min, i16 %{p}_lowv, i16 %{p}_normv",
                  f"  %{p}_value = select i1 %{p}_max, i16 2, i16 %{p}_v1"]
    return lines


def _rotate():
    """IR: pop the image's registers: ST(k) = old ST(k + 1), ST(7) = old ST(0)."""
    lines = []
    for k in range(8):
        lines += [f"  %rp{k} = getelementptr i8, ptr %fpu, i64 {ST0 + 10 * k}",
                  f"  %rm{k} = load i64, ptr %rp{k}, align 1",
                  f"  %rq{k} = getelementptr i8, ptr %rp{k}, i64 8", f"  %re{k} = load i16, ptr %rq{k}, align 1"]
    for k in range(8):
        src = (k + 1) % 8
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
