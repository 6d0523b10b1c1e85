"""The translation cache: translated blocks by what determines their code, and the native jump cache.

A block is keyed (`block_key`) by its physical address, the EIP it was translated at (jump
targets and the EIPs it writes are constants in its code) and the mode bits the
translation depends on (`mode_of` in vmm.x86.mode: the CPL, which selects the TLB views its
memory accesses use, and paging on/off).  So a page mapped at two addresses, or run at two
privilege levels, has translations of its own for each, and a linear address remapped to
another page never runs the old page's code.  The jump cache is a native direct-mapped
table (tag = EIP + 1 + mode << 32, function address) that the native dispatcher reads, so
a hot loop over many blocks never returns to Python; its tags are linear, so when mappings
change (`flush_jump_cache`) the entries they may affect go: one page's for an invlpg, all
but those of global pages for a CR3 reload, all for a paging mode change (as QEMU's
tb_jmp_cache per-page flush; for a page, only the slots its entries were published to,
kept in `page_slots`); they are refilled from the blocks on a miss.  The dispatcher
serves most misses itself from `table` (vmm.cache.blocktable: every non-crossing block by
physical address, EIP and mode, native), which changes only when blocks do.  A
write to a physical code granule (64 bytes) drops every block there and its jump-cache
slot before the next guest instruction (`invalidate`, a PhysicalMemory listener).  Each
block has a native execution counter, used for tier-up and shown by the inspector.

A crossing block (paging on; vmm.translator.blocks) ends with an instruction whose bytes
continue in the next linear page, at frame `phys2`, which its key does not cover.  So it
is never chained into (its chain slot stays empty), every jump-cache flush clears its slot
whatever the pages flushed (`crossing_slots`: a handful), and the translator checks `phys2`
against the current mapping before refilling its slot on a miss (dropping it, `remapped`,
if the page now maps another frame); its granules in `phys2` are code granules like the
others, so a store there drops it.

Code lifetime: blocks are compiled in batches, each a library of its own (`CodeUnit`,
vmm.translator.jit).  A unit counts the live blocks that run its code; when a block is
invalidated, flushed or recompiled at tier 2 elsewhere, the count drops, and a unit no block
runs is `dead`: the translator frees its code at the next point where no translated code is
running (a TLB fill can invalidate from inside a block).  Nothing points into dead code:
dropping a block clears its jump-cache entry and chain slot, and recompiling it points them
at the new code.  `held` counts the blocks of units still loaded (dead blocks included), so
it bounds the code in memory; the translator flushes everything when a batch would take it
past `limit` (QEMU's policy when its code buffer is full: simple, and no block ever has to
be unlinked one by one).

Example:
    tc = TranslationCache(memory, limit=4096)
    tc.install(CodeUnit("lib1", 1), [block])    # block.fn_address set by the JIT
    tc.blocks[0x100000].tier    # paging off, CPL 0, EIP == physical: the key is the address
"""

import ctypes
from dataclasses import dataclass

import numpy

from ..memory import CODE_SHIFT
from ..x86.tlb import PAGE_SHIFT
from . import DEFAULT_LIMIT
from .blocktable import BlockTable
from ..translator.blocks import byte_runs
from ..translator.dispatch import JUMP_CACHE_BITS, jump_cache_index

MAX_CHAIN_SLOTS = 1 << 18
PAGE_BITS = numpy.uint64(PAGE_SHIFT)
ONE, EIP_MASK = numpy.uint64(1), numpy.uint64(0xFFFFFFFF)
FEW_PAGES = 64             # a full jump-cache flush clears slot by slot up to this many pages (else memset)


def block_key(eip, phys, mode):
    """One int per translation; the bare physical address for flat ring-0 code."""
    if eip == phys and mode == 0:
        return phys
    return phys | (eip << 32) | (mode << 64)


def jump_tag(eip, mode):
    return eip + 1 + (mode << 32)


@dataclass(eq=False)
class CodeUnit:
    """One library of compiled blocks (vmm.translator.jit): `size` blocks compiled into it,
    `live` of them still running its code."""
    library: str
    size: int
    live: int = 0


@dataclass
class Block:
    phys: int
    insns: list
    fallthrough: int
    index: int                      # slot in the counter array
    fn_name: str
    fn_address: int = 0
    tier: int = 0
    eip: int = None                 # the EIP it was translated at (default: phys)
    mode: int = 0
    unit: CodeUnit = None           # the library its code is in
    phys2: int = None               # the frame its last instruction crosses into (paging), or None

    def __post_init__(self):
        if self.eip is None:
            self.eip = self.phys

    @property
    def key(self):
        return block_key(self.eip, self.phys, self.mode)

    @property
    def granules(self):
        """The 64-byte physical code granules the block's instructions occupy (with paging,
        those of its first page, and of `phys2` for an instruction crossing into the next)."""
        return [granule for start, length in byte_runs(self)
                for granule in range(start >> CODE_SHIFT, ((start + length - 1) >> CODE_SHIFT) + 1)]


class _Slot(ctypes.Structure):
    _fields_ = [("tag", ctypes.c_uint64), ("fn", ctypes.c_uint64)]


@dataclass
class CacheStats:
    translated: int = 0
    invalidated: int = 0
    flushes: int = 0
    granule_invalidations: int = 0
    jump_cache_flushes: int = 0
    remapped: int = 0               # crossing blocks dropped: their second page maps another frame


class TranslationCache:
    def __init__(self, memory, limit=DEFAULT_LIMIT):
        self.limit = limit
        self.jump_cache = (_Slot * (1 << JUMP_CACHE_BITS))()
        self.jump_cache_address = ctypes.addressof(self.jump_cache)
        self.page_slots = {}         # linear page number -> slots published for it (invlpg's flush)
        self.jump_tags = numpy.frombuffer(self.jump_cache, dtype=numpy.uint64)[0::2]   # a view
        self.table = BlockTable(limit)  # every non-crossing live block, for the dispatcher's misses
        # One counter per live block: live blocks <= held <= limit (a batch is cut to fit).
        self.counters = (ctypes.c_uint64 * limit)()
        self.counters_address = ctypes.addressof(self.counters)
        self.counts = numpy.frombuffer(self.counters, dtype=numpy.uint64)     # the same memory
        self.tier0 = numpy.zeros(limit, dtype=bool)     # by counter index: a live tier-0 block
        self.by_index = {}              # counter index -> live block
        self.free_indices = []          # counters of dropped blocks, for reuse
        self.chain = (ctypes.c_uint64 * MAX_CHAIN_SLOTS)()
        self.chain_address = ctypes.addressof(self.chain)
        self.null_slot = ctypes.c_uint64(0)     # a chain slot that never links (all slots taken)
        self.held = 0                   # blocks compiled into units still loaded
        self.dead = []                  # units no block runs: to free at a safe point
        self.chain_slots = {}           # block key -> chain slot index
        self.blocks = {}
        self.by_granule = {}
        self.next_index = 0
        self.invalidations = {}         # physical address -> times its block was invalidated
        self.crossing_slots = set()     # jump-cache slots filled with crossing blocks since the last flush
        self.stats = CacheStats()
        self.memory = memory
        memory.on_code_write.append(self.invalidate)

    def new_index(self):
        """A fresh counter slot (the caller keeps live blocks within `limit`)."""
        if self.free_indices:
            index = self.free_indices.pop()
        else:
            index = self.next_index
            self.next_index += 1
        self.counters[index] = 0
        return index

    def counter_address(self, index):
        return self.counters_address + 8 * index

    def chain_slot_address(self, key):
        """Native address of the chain slot for the block with `key` (goto_tb style): a
        predecessor jumps through it directly while it holds code, else returns to the
        dispatcher.  When all slots are taken, a slot that stays 0."""
        index = self.chain_slots.get(key)
        if index is None:
            if len(self.chain_slots) >= MAX_CHAIN_SLOTS:
                return ctypes.addressof(self.null_slot)
            index = self.chain_slots[key] = len(self.chain_slots)
            block = self.blocks.get(key)
            self.chain[index] = block.fn_address if block and block.phys2 is None else 0
        return self.chain_address + 8 * index

    def install(self, unit, blocks):
        """Publish freshly compiled `blocks`, whose code is in `unit`."""
        self.add(unit)
        for block in blocks:
            block.unit = unit
            self.insert(block)
        self.settle(unit)

    def add(self, unit):
        """`unit` is loaded: its blocks count as held until it is freed."""
        self.held += unit.size

    def settle(self, unit):
        """After installing code from `unit`: if no block runs it, it is dead at once."""
        if unit.live == 0:
            self.dead.append(unit)

    def take_dead(self):
        """The dead units, handed over to be freed (they no longer count as held)."""
        dead, self.dead = self.dead, []
        self.held -= sum(unit.size for unit in dead)
        return dead

    def _release(self, block):
        """`block` no longer runs the code of its unit."""
        block.unit.live -= 1
        if block.unit.live == 0:
            self.dead.append(block.unit)

    def _drop(self, block):
        self.stats.invalidated += 1
        self._release(block)
        self.free_indices.append(block.index)
        self.tier0[block.index] = False
        self.by_index.pop(block.index, None)

    def insert(self, block):
        key = block.key
        self.blocks[key] = block
        self.by_index[block.index] = block
        self.tier0[block.index] = block.tier == 0
        block.unit.live += 1
        for granule in block.granules:
            self.by_granule.setdefault(granule, set()).add(key)
            self.memory.mark_code(granule)      # the decoder marks no crossing instruction's bytes
        if block.phys2 is None:
            self.table.put(block.phys, block.eip, block.mode, block.fn_address)
        self.publish(block)
        self.stats.translated += 1

    def publish(self, block):
        """Point the jump-cache slot of `block`'s EIP and its chain slot at its code (a
        crossing block's chain slot stays empty: chains skip the check of its second page)."""
        slot_index = jump_cache_index(block.eip)
        slot = self.jump_cache[slot_index]
        slot.tag, slot.fn = jump_tag(block.eip, block.mode), block.fn_address
        self.page_slots.setdefault(block.eip >> PAGE_SHIFT, set()).add(slot_index)
        if block.phys2 is not None:
            self.crossing_slots.add(slot_index)
            return
        index = self.chain_slots.get(block.key)
        if index is not None:
            self.chain[index] = block.fn_address

    def replace(self, block, fn_address, tier, unit):
        """Point a block at recompiled code in `unit` (tier-up); a block dropped while it
        recompiled stays out (call `settle(unit)` once its blocks are replaced).  Only a
        jump-cache slot holding the block's old code gets the new code: the slot of its EIP
        may hold another address space's block by now, or have been flushed."""
        if self.blocks.get(block.key) is not block:
            return
        self._release(block)
        old, block.fn_address, block.tier, block.unit = block.fn_address, fn_address, tier, unit
        unit.live += 1
        slot = self.jump_cache[jump_cache_index(block.eip)]
        if slot.fn == old:
            slot.fn = fn_address
        if block.phys2 is None:
            self.table.put(block.phys, block.eip, block.mode, fn_address)
            index = self.chain_slots.get(block.key)
            if index is not None:
                self.chain[index] = fn_address

    def lookup(self, key):
        """Refill the jump-cache slot for block `key` if it exists (evicted by a collision
        or flushed when mappings changed; the caller has checked a crossing block's second
        page, vmm.translator.engine)."""
        block = self.blocks.get(key)
        if block is not None:
            self.publish(block)
        return block

    def count(self, block):
        return self.counters[block.index]

    def take_hot(self, runs):
        """The tier-0 blocks that have run `runs` times or more, not taken before: one pass
        over the native counters (a monitor with 50,000 blocks asks after every slice)."""
        end = self.next_index
        hot = numpy.flatnonzero(self.tier0[:end] & (self.counts[:end] >= runs))
        self.tier0[hot] = False
        return [self.by_index[index] for index in hot.tolist()]

    def invalidate(self, granule):
        """A store hit code in `granule`: drop the blocks there and unlink them."""
        keys = self.by_granule.pop(granule, ())
        if keys:
            self.stats.granule_invalidations += 1
        for key in keys:
            block = self.blocks.get(key)
            if block is None:
                continue
            self._remove(block)
            self.invalidations[block.phys] = self.invalidations.get(block.phys, 0) + 1

    def remapped(self, block):
        """Drop crossing `block`: the page its last instruction crosses into maps another
        frame now (or none)."""
        self._remove(block)
        self.stats.remapped += 1

    def _remove(self, block):
        """Take `block` out of the cache, its jump-cache slot, chain slot and granules."""
        key = block.key
        del self.blocks[key]
        self._drop(block)
        self.table.remove(block.phys, block.eip, block.mode)
        slot = self.jump_cache[jump_cache_index(block.eip)]
        if slot.tag == jump_tag(block.eip, block.mode):
            slot.tag, slot.fn = 0, 0
        index = self.chain_slots.get(key)
        if index is not None:
            self.chain[index] = 0          # unlink: predecessors fall back to the dispatcher
        for granule in block.granules:
            self.by_granule.get(granule, set()).discard(key)

    def flush_jump_cache(self, page=None, keep=None):
        """Forget linear -> block entries whose mapping may have changed: those of the linear
        `page` (an address in it) if given, else all but those whose page `keep` (a boolean
        array by linear page number: the global pages a CR3 reload keeps) marks, else all;
        and those of crossing blocks, whatever their pages (their second page is checked
        again at the next miss).  Blocks and chains stay: chains link blocks by key, which
        holds the physical address, and never leave a page nor enter a crossing block."""
        self.stats.jump_cache_flushes += 1
        if page is not None:
            self._flush_page(page >> PAGE_SHIFT)
        elif len(self.page_slots) <= FEW_PAGES:          # a small guest or a fresh address space:
            for number in list(self.page_slots):          # its slots one by one
                if keep is None or not keep[number]:
                    self._flush_page(number)
        elif keep is None:
            ctypes.memset(self.jump_cache, 0, ctypes.sizeof(self.jump_cache))
            self.page_slots.clear()
        else:
            pages = ((self.jump_tags - ONE) & EIP_MASK) >> PAGE_BITS        # tag = eip + 1 + mode << 32
            self.jump_tags[~keep[pages]] = 0
        for index in self.crossing_slots:      # whatever the pages: checked again at the next miss
            self.jump_tags[index] = 0
        self.crossing_slots.clear()

    def _flush_page(self, number):
        """Clear the slots holding entries of linear page `number`: those it was published to
        (`page_slots`; a slot since taken by another page keeps that page's entry)."""
        tags = self.jump_tags
        for index in self.page_slots.pop(number, ()):
            if ((int(tags[index]) - 1) & 0xFFFFFFFF) >> PAGE_SHIFT == number:
                tags[index] = 0

    def flush(self):
        """Drop every block (the cache is full, or breakpoints changed); their units die."""
        ctypes.memset(self.jump_cache, 0, ctypes.sizeof(self.jump_cache))
        self.page_slots.clear()
        self.crossing_slots.clear()
        ctypes.memset(self.chain, 0, ctypes.sizeof(self.chain))
        self.chain_slots.clear()
        self.table.clear()
        for block in self.blocks.values():
            self._drop(block)
        self.blocks.clear()
        self.by_granule.clear()
        self.free_indices.clear()
        self.next_index = 0
        self.stats.flushes += 1
