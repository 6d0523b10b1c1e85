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

Cost: FRSTOR + FNSAVE dominate (about 150 ns together on this project's AMD EPYC VM), so
an x87 instruction costs about 0.2 us in translated code.  Keeping the guest state in
FpuState by physical register and giving the common arithmetic forms helpers that load
only their operands (FLD/FSTP of two registers) would cut that several times; the FRSTOR
path stays the exact fallback.

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
  x87_<opcode><modrm>  run one form (vmm.x86.fpu.forms): a, b = the memory operand's
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


def _run_ir(form):
    """IR of the helper for one form."""
    lines = [
        f"define i64 @{form.name}({_PARAMS}) nounwind {{",
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
    return _run_ir(from_name(name))


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
