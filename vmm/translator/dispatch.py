"""The native dispatcher: runs translated blocks back to back without returning to Python.

`i32 dispatch(ptr state)` loops: look state.eip up in the jump cache (a
native direct-mapped table, QEMU's tb_jmp_cache), call the block, and go on
while blocks return CONTINUE.  A miss, a budget expiry or a STEP returns the
exit code to Python.  Blocks check the budget themselves at entry.

Example:
    fn = build_dispatcher(jump_cache_address, JUMP_CACHE_BITS)
"""

from llvmlite import ir

from .exits import CONTINUE, MISS
from .ir_arith import INT
from .llvm_builder import OFFSETS, I8P

JUMP_CACHE_BITS = 14
ENTRY_SIZE = 16            # u64 tag (phys + 1; 0 = empty), u64 function address


def jump_cache_index(phys):
    """The slot of `phys`; the same hash is emitted in IR below."""
    return (phys ^ (phys >> JUMP_CACHE_BITS)) & ((1 << JUMP_CACHE_BITS) - 1)


def build_dispatcher(module, jump_cache_address):
    fn = ir.Function(module, ir.FunctionType(INT[32], [I8P]), "dispatch")
    state = fn.args[0]
    entry, loop, call, out = (fn.append_basic_block(n) for n in ("entry", "loop", "call", "out"))
    b = ir.IRBuilder(entry)
    b.branch(loop)
    b.position_at_end(loop)
    eip_ptr = b.gep(state, [ir.Constant(INT[64], OFFSETS["eip"][0])], source_etype=INT[8])
    eip = b.load(eip_ptr, typ=INT[32])
    index = b.and_(b.xor(eip, b.lshr(eip, ir.Constant(INT[32], JUMP_CACHE_BITS))),
                   ir.Constant(INT[32], (1 << JUMP_CACHE_BITS) - 1))
    slot = b.add(ir.Constant(INT[64], jump_cache_address), b.mul(b.zext(index, INT[64]), ir.Constant(INT[64], ENTRY_SIZE)))
    tag = b.load(b.inttoptr(slot, I8P), typ=INT[64])
    target = b.load(b.inttoptr(b.add(slot, ir.Constant(INT[64], 8)), I8P), typ=INT[64])
    hit = b.icmp_unsigned("==", tag, b.add(b.zext(eip, INT[64]), ir.Constant(INT[64], 1)))
    b.cbranch(hit, call, out)
    b.position_at_end(call)
    block_type = ir.FunctionType(INT[32], [I8P])
    code = b.call(b.inttoptr(target, block_type.as_pointer()), [state])
    b.cbranch(b.icmp_unsigned("==", code, ir.Constant(INT[32], CONTINUE)), loop, out)
    b.position_at_end(out)
    phi = b.phi(INT[32])
    phi.add_incoming(ir.Constant(INT[32], MISS), loop)
    phi.add_incoming(code, call)
    b.ret(phi)
    return fn
