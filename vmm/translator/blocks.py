"""Block formation: guest instructions from an address up to the first that ends a block.

A block ends after a control transfer or an instruction that must end it
(rep string ops, popf, sti...), before a CALLOUT or UNDEF instruction, or at
MAX_INSNS.  A block that would be empty (its first instruction is a callout)
is None: the monitor runs that instruction itself.

Example:
    insns, fallthrough = form_block(decoder, 0x100000)
"""

from .rules import decide

MAX_INSNS = 64


def form_block(decoder, phys):
    """(list of Insn, address after the last) for the block at `phys`; list may be empty."""
    insns = []
    addr = phys
    while len(insns) < MAX_INSNS:
        insn = decoder.decode(addr)
        decision = decide(insn)
        if not decision.translated:
            break
        insns.append(insn)
        addr = insn.next
        if decision.ends_block:
            break
    return insns, addr
