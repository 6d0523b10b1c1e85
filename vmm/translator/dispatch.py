"""The native dispatcher: runs translated blocks back to back without returning to Python.

`i32 dispatch(ptr state)` loops: look state.eip and the translation mode (CPL, paging,
checked segments: vmm.x86.mode.mode_of, computed here the same way) up in the jump cache
(a native direct-mapped table, QEMU's tb_jmp_cache), call the block, and go on while blocks
return CONTINUE.  When the jump cache misses, EIP goes through the software TLB's read view
of the CPL (vmm.x86.tlb; paging off, it is the physical address; a TLB miss is filled by the
page walk's callback, `tlb_fill`, as blocks fill theirs) and the block is looked up in the
native block table (vmm.cache.blocktable, QEMU's tb_htable); only if the walk finds no page
or the table misses too does Python see MISS (after a CR3 reload, the first block of the
new address space is found without Python).  A budget expiry or a STEP returns the exit code to Python.
Blocks check the budget themselves at entry.  A STEP that left a fault in `pending_fault`
(Mmu.fill, raise_if), or a miss whose fill found one (an instruction fetch from a page not
present: demand paging of code), is delivered here by the native fast path whose address is in the
slot at `deliver_slot` (0 until it is compiled), and the loop goes on in the handler; only
if it declines does Python see the STEP.

Example:
    build_dispatcher(module, cache, layout, deliver_slot)    # then JIT-compile "dispatch"
"""

from ..x86.exceptions import HAS_ERROR
from ..x86.mode import MODE_SEGMENTS, MODE_SEGMENTS_SHIFT
from ..x86.state import CpuState
from ..cache.blocktable import ENTRY_SIZE as TABLE_ENTRY_SIZE, HASH_MULTIPLIER
from .exits import CONTINUE, MISS, STEP
from .irtext import TextArith, Value
from .llvm_builder import FILL_CC, OFFSETS, entry_host, tlb_entry

JUMP_CACHE_BITS = 14
ENTRY_SIZE = 16            # u64 tag (eip + 1 + mode << 32; 0 = empty), u64 function address


def jump_cache_index(phys):
    """The slot of `phys`; the same hash is emitted in IR below."""
    return (phys ^ (phys >> JUMP_CACHE_BITS)) & ((1 << JUMP_CACHE_BITS) - 1)


def build_dispatcher(module, cache, layout, deliver_slot):
    """Define `dispatch` for the TranslationCache `cache` (its jump cache and block table)
    and the machine's MemoryLayout `layout` (RAM and TLB view addresses)."""
    jump_cache_address = cache.jump_cache_address
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
    found = _table_lookup(b, cache.table, layout, eip, cpl, paging, mode)
    b.start("call")
    code = b.call(b.inttoptr(b.phi("i64", [(target, "loop"), (found, "match")])).ref, "i32", [state])
    b.cbranch(b.eq(code, b.const(CONTINUE, 32), 32), "loop", "out")
    b.start("give_up")                   # a page fault the fill found is delivered as a STEP's is
    b.br("step")
    b.start("out")
    b.cbranch(b.eq(code, b.const(STEP, 32), 32), "step", "leave")
    b.start("step")
    exit_code = b.phi("i32", [(b.const(MISS, 32), "give_up"), (code, "out")])
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
    b.ret(b.phi("i32", [(code, "out"), (exit_code, "step"), (exit_code, "fault")]))



def _table_lookup(b, table, layout, eip, cpl, paging, mode):
    """Blocks "miss" to "match" (branching to "call" with the function address, returned)
    or to "give_up": EIP's physical address through the TLB view of the CPL's reads (no
    entry: give up, Python walks the page tables), then a linear probe of the block table
    from the key's home entry to the first empty one (vmm.cache.blocktable)."""
    b.start("miss")
    b.cbranch(b.eq(paging, b.const(0, 32), 32), "probe_start", "paged")
    b.start("paged")
    user, supervisor = (layout.tlb.view_address(user, False) for user in (True, False))
    view = b.select(b.eq(cpl, b.const(3, 32), 32), b.const(user, 64), b.const(supervisor, 64), 64)
    cached = tlb_entry(b, view, eip)
    b.cbranch(b.eq(cached, b.const(0, 64), 64), "fill", "mapped")
    b.start("fill")
    kind = b.shl(b.zext(b.eq(cpl, b.const(3, 32), 32), 1, 32), b.const(1, 32), 32)     # a read, user at CPL 3
    filled = b.call("@tlb_fill", "i64", [Value("%state", "ptr"), eip, kind], attrs=" nounwind", cc=FILL_CC)
    b.cbranch(b.eq(filled, b.const(0, 64), 64), "give_up", "mapped")
    b.start("mapped")
    entry = b.phi("i64", [(cached, "paged"), (filled, "fill")])
    mapped = b.trunc(b.sub(entry_host(b, entry, eip), b.const(layout.ram, 64), 64), 64, 32)
    b.br("probe_start")
    b.start("probe_start")
    phys = b.phi("i32", [(eip, "miss"), (mapped, "mapped")])
    key = b.or_(b.zext(phys, 32, 64), b.shl(b.zext(eip, 32, 64), b.const(32, 64), 64), 64)
    home = b.lshr(b.mul(key, b.const(HASH_MULTIPLIER, 64), 64), b.const(64 - table.bits, 64), 64)
    b.br("probe")
    b.start("probe")
    index, following = Value(b.fn.fresh("index"), "i64"), b.fn.fresh("following")
    b.line(f"{index.ref} = phi i64 [ {home.ref}, %probe_start ], [ {following}, %next ]")
    entry_address = b.add(b.const(table.address, 64), b.mul(index, b.const(TABLE_ENTRY_SIZE, 64), 64), 64)
    found = b.load_ptr("i64", b.inttoptr(b.add(entry_address, b.const(16, 64), 64)))
    b.cbranch(b.eq(found, b.const(0, 64), 64), "give_up", "compare")
    b.start("compare")
    same = b.and_(b.eq(b.load_ptr("i64", b.inttoptr(entry_address)), key, 64),
                  b.eq(b.load_ptr("i64", b.inttoptr(b.add(entry_address, b.const(8, 64), 64))),
                       b.zext(mode, 32, 64), 64), 1)
    b.cbranch(same, "match", "next")
    b.start("next")
    b.line(f"{following} = and i64 {b.add(index, b.const(1, 64), 64).ref}, {table.capacity - 1}")
    b.br("probe")
    b.start("match")
    b.br("call")
    return found
