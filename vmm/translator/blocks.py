"""Block formation: guest instructions from an address up to the first that ends a block.

A block ends after a control transfer or an instruction that must end it
(rep string ops, popf, sti...), before a CALLOUT or UNDEF instruction, or at
MAX_INSNS.  A block that would be empty (its first instruction is a callout, or
cannot be fetched) is empty: the monitor runs that instruction itself.

Example:
    insns, fallthrough = form_block(decoder, 0x100000, stops={0x100010})
"""

from ..errors import VmmError
from .rules import decide

MAX_INSNS = 64


def form_block(decoder, phys, stops=()):
    """(list of Insn, address after the last) for the block at `phys`; list may be empty.
    The block also ends before any address in `stops` (debugger breakpoints), so the
    monitor sees EIP reach it."""
    insns = []
    addr = phys
    while len(insns) < MAX_INSNS and not (insns and addr in stops):
        try:
            insn = decoder.decode(addr)
        except VmmError:
            # Code running off the end of RAM: the block ends before the instruction that
            # cannot be fetched, so its valid instructions run first and the monitor reports
            # the fetch error at the faulting address, as the interpreter does.
            break
        decision = decide(insn)
        if not decision.translated:
            break
        insns.append(insn)
        addr = insn.next
        if decision.ends_block:
            break
    return insns, addr
