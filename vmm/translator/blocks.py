"""Block formation: guest instructions from an address up to the first that ends a block.

A block ends after a control transfer or an instruction that must end it
(rep string ops, popf, sti...), before a CALLOUT or UNDEF instruction, or at
MAX_INSNS.  A block that would be empty (its first instruction is a callout, or
cannot be fetched) is empty: the monitor runs that instruction itself.  With paging on, a
block stays inside one page (its bytes are then physically contiguous, and its key's
physical address covers all of it); an instruction that crosses a page boundary is left
to the interpreter.  A block also ends before any address in `stops` (debugger
breakpoints), so the monitor sees EIP reach it.

Example:
    insns, fallthrough = form_block(decoder, 0x100000, stops={0x100010})
    insns, fallthrough = form_block(decoder, 0xC0100000, 0x100000, paging=True)
"""

from ..errors import VmmError
from ..x86.tlb import PAGE_SHIFT
from .rules import decide

MAX_INSNS = 64
PAGE_SIZE = 1 << PAGE_SHIFT


def form_block(decoder, eip, phys=None, paging=False, stops=()):
    """(list of Insn, EIP after the last) for the block at `eip` (bytes at `phys`, default
    the same address); the list may be empty."""
    if phys is None:
        phys = eip
    page_end = (eip | (PAGE_SIZE - 1)) + 1
    insns = []
    addr = eip
    while len(insns) < MAX_INSNS and not (insns and addr in stops):
        try:
            insn = decoder.decode(addr, phys + addr - eip)
        except VmmError:
            # Code running off the end of RAM: the block ends before the instruction that
            # cannot be fetched, so its valid instructions run first and the monitor reports
            # the fetch error at the faulting address, as the interpreter does.
            break
        if paging and addr + insn.size > page_end:
            break
        decision = decide(insn)
        if not decision.translated:
            break
        insns.append(insn)
        addr = insn.next
        if decision.ends_block or (paging and addr == page_end):
            break
    return insns, addr
