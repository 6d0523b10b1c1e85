"""The native dispatcher: runs translated blocks back to back without returning to Python.

`i32 dispatch(ptr state)` loops: look state.eip and the translation mode (CPL, paging,
checked segments: vmm.x86.mode.mode_of, computed here the same way) up in the jump cache
(a native direct-mapped table, QEMU's tb_jmp_cache), call the block, and go on while blocks
return CONTINUE.  A miss, a budget expiry or a STEP returns the exit code to Python.
Blocks check the budget themselves at entry.  A STEP that left a fault in `pending_fault`
(Mmu.fill, raise_if) is delivered here by the native fast path whose address is in the
slot at `deliver_slot` (0 until it is compiled), and the loop goes on in the handler; only
if it declines does Python see the STEP.

Example:
    build_dispatcher(module, jump_cache_address, deliver_slot)   # then JIT-compile "dispatch"
"""

from ..x86.exceptions import HAS_ERROR
from ..x86.mode import MODE_SEGMENTS, MODE_SEGMENTS_SHIFT
from ..x86.state import CpuState
from .exits import CONTINUE, MISS, STEP
from .irtext import TextArith, Value
from .llvm_builder import OFFSETS

JUMP_CACHE_BITS = 14
ENTRY_SIZE = 16            # u64 tag (eip + 1 + mode << 32; 0 = empty), u64 function address


def jump_cache_index(phys):
    """The slot of `phys`; the same hash is emitted in IR below."""
    return (phys ^ (phys >> JUMP_CACHE_BITS)) & ((1 << JUMP_CACHE_BITS) - 1)


def build_dispatcher(module, jump_cache_address, deliver_slot):
    fn = module.function("dispatch", "i32", ["ptr %state"])
    b = TextArith(fn, module)
    state = Value("%state", "ptr")
    b.start("entry")
    b.br("loop")
    b.start("loop")
    eip = b.load_ptr("i32", b.gep(state, OFFSETS["eip"][0]))
    index = b.and_(b.xor(eip, b.lshr(eip, b.const(JUMP_CACHE_BITS, 32), 32), 32),
                   b.const((1 << JUMP_CACHE_BITS) - 1, 32), 32)
    slot = b.add(b.const(jump_cache_address, 64), b.mul(b.zext(index, 32, 64), b.const(ENTRY_SIZE, 64), 64), 64)
    tag = b.load_ptr("i64", b.inttoptr(slot))
    target = b.load_ptr("i64", b.inttoptr(b.add(slot, b.const(8, 64), 64)))
    cpl = b.and_(b.load_ptr("i32", b.gep(state, OFFSETS["seg1.selector"][0])), b.const(3, 32), 32)
    paging = b.lshr(b.load_ptr("i32", b.gep(state, OFFSETS["cr0"][0])), b.const(31, 32), 32)
    checks = b.and_(b.load_ptr("i32", b.gep(state, CpuState.seg_checks.offset)), b.const(MODE_SEGMENTS, 32), 32)
    mode = b.or_(b.or_(cpl, b.shl(paging, b.const(2, 32), 32), 32),
                 b.shl(checks, b.const(MODE_SEGMENTS_SHIFT, 32), 32), 32)
    want = b.add(b.add(b.zext(eip, 32, 64), b.const(1, 64), 64),
                 b.shl(b.zext(mode, 32, 64), b.const(32, 64), 64), 64)
    hit = b.eq(tag, want, 64)
    b.cbranch(hit, "call", "miss")
    b.start("call")
    code = b.call(b.inttoptr(target).ref, "i32", [state])
    b.cbranch(b.eq(code, b.const(CONTINUE, 32), 32), "loop", "out")
    b.start("miss")
    b.ret(b.const(MISS, 32))
    b.start("out")
    b.cbranch(b.eq(code, b.const(STEP, 32), 32), "step", "leave")
    b.start("step")
    fault_slot = b.gep(state, OFFSETS["pending_fault"][0])
    fault = b.load_ptr("i32", fault_slot)
    deliver = b.load_ptr("i64", b.inttoptr(b.const(deliver_slot, 64)))
    native = b.and_(b.ne(fault, b.const(0, 32), 32), b.ne(deliver, b.const(0, 64), 64), 1)
    b.cbranch(native, "fault", "leave")
    b.start("fault")
    b.store_ptr(b.const(0, 32), fault_slot)
    vector = b.and_(b.lshr(fault, b.const(16, 32), 32), b.const(0xFF, 32), 32)
    has_error = b.and_(b.lshr(fault, b.const(HAS_ERROR.bit_length() - 1, 32), 32), b.const(1, 32), 32)
    error = b.and_(fault, b.const(0xFFFF, 32), 32)
    args = [state, vector, error, has_error, b.load_ptr("i32", b.gep(state, OFFSETS["eip"][0])), b.const(0, 32)]
    delivered = b.call(b.inttoptr(deliver).ref, "i32", args)
    b.cbranch(b.eq(delivered, b.const(0, 32), 32), "loop", "leave")
    b.start("leave")
    b.ret(code)

