"""Block formation: guest instructions from an address up to the first that ends a block.

A block ends after a control transfer or an instruction that must end it
(rep string ops, popf, sti...), before a CALLOUT or UNDEF instruction, or at
MAX_INSNS.  A block that would be empty (its first instruction is a callout, or
cannot be fetched) is empty: the monitor runs that instruction itself.  With paging on, a
block stays inside one page (its key's physical address covers it), except that its last
instruction may cross into the next linear page: the block ends after it, and the frame that
page maps is kept (`Plan.phys2`), since the key does not cover it (the translator checks it
before running the block again after mappings change; vmm.translator.engine).  If fetching
from the next page faults, the block ends before that instruction and the interpreter
delivers the #PF.  A block also ends before any address in `stops` (debugger
breakpoints), so the monitor sees EIP reach it.

Example:
    plan = form_block(decoder, 0x100000, stops={0x100010})
    plan = form_block(decoder, 0xC0100000, 0x100000, next_frame=lambda linear: mmu.translate(linear, FETCH))
    plan.insns, plan.fallthrough, plan.phys2
"""

from collections.abc import Sequence
from typing import NamedTuple

from ..errors import GuestFault, VmmError
from ..x86.tlb import PAGE_SHIFT
from .rules import decide

MAX_INSNS = 64
PAGE_SIZE = 1 << PAGE_SHIFT


class Plan(NamedTuple):
    """A block as formed: its EIP and physical address, its instructions (maybe none), the
    EIP after them, and the frame its last instruction continues in when it crosses into
    the next linear page (None otherwise)."""
    eip: int
    phys: int
    insns: list
    fallthrough: int
    phys2: int = None


class Decoded(Sequence):
    """A block's instructions, decoded when first asked for: a block linked from the
    persistent cache is checked by its bytes, not decoded (vmm.translator.engine), and most
    such blocks are never looked at again.  `decode()` gives the list; while the block is
    in the cache its bytes cannot change (a store to them drops it)."""

    def __init__(self, decode):
        self._decode, self._insns = decode, None

    @property
    def decoded(self):
        return self._insns is not None

    def _all(self):
        if self._insns is None:
            self._insns, self._decode = self._decode(), None
        return self._insns

    def __getitem__(self, k):
        return self._all()[k]

    def __len__(self):
        return len(self._all())


def byte_runs(block):
    """The guest bytes of a formed block (a Plan or a cache Block) as physical (address,
    length) runs: one, or for a block whose last instruction crosses a page, the part in
    its first page and the rest at the start of `phys2`."""
    length = (block.fallthrough - block.eip) & 0xFFFFFFFF
    if block.phys2 is None:
        return [(block.phys, length)]
    head = PAGE_SIZE - (block.phys & (PAGE_SIZE - 1))
    return [(block.phys, head), (block.phys2, length - head)]


def form_block(decoder, eip, phys=None, stops=(), next_frame=None):
    """The Plan of the block at `eip` (bytes at `phys`, default the same address).
    `next_frame`: with paging on, `next_frame(linear)` is the physical frame an instruction
    fetch from page-aligned `linear` reads (it raises GuestFault, or MemoryAccessError for
    a frame outside RAM, where there is none); None with paging off."""
    if phys is None:
        phys = eip
    page_end = (eip | (PAGE_SIZE - 1)) + 1
    insns, addr, phys2 = [], eip, None
    while len(insns) < MAX_INSNS and not (insns and addr in stops):
        try:
            insn, crossing = _decode(decoder, addr, phys + addr - eip, next_frame, page_end & 0xFFFFFFFF)
        except (VmmError, GuestFault):
            # Code running off the end of RAM (or into a page that cannot be fetched): the
            # block ends before the instruction that cannot be fetched, so its valid
            # instructions run first and the monitor reports the error at that address.
            break
        decision = decide(insn)
        if not decision.translated:
            break
        insns.append(insn)
        addr, phys2 = insn.next, crossing
        if decision.ends_block or crossing is not None or (next_frame and addr == page_end):
            break
    return Plan(eip, phys, insns, addr, phys2)


def _decode(decoder, addr, phys, next_frame, next_page):
    """(Insn, the frame it continues in if it crosses into the linear page `next_page`)."""
    if next_frame is None:
        return decoder.decode(addr, phys), None
    return decoder.paged(addr, phys, lambda: next_frame(next_page))
