"""The translation cache: translated blocks by guest physical address, and the native jump cache.

Blocks are found by physical address (paging is off, so EIP == physical with a
zero CS base; the mode bits that change decoding are constant today and will
join the key with paging).  The jump cache is a native direct-mapped table
(tag = phys + 1, function address) that the native dispatcher reads, so a hot
loop over many blocks never returns to Python.  A write to a page holding
translated code drops every block on that page and its jump-cache slots
before the next guest instruction (`invalidate`, a PhysicalMemory listener,
per 64-byte code granule).  Each block has a native execution counter, used for tier-up and
shown by the inspector.

Example:
    tc = TranslationCache(memory)
    tc.insert(block)            # block.fn_address set by the JIT
    tc.blocks[0x100000].tier
"""

import ctypes
from dataclasses import dataclass, field

from ..memory import CODE_SHIFT
from ..translator.dispatch import JUMP_CACHE_BITS, jump_cache_index

MAX_BLOCKS = 1 << 16
MAX_CHAIN_SLOTS = 1 << 16


@dataclass
class Block:
    phys: int
    insns: list
    fallthrough: int
    index: int                      # slot in the counter array
    fn_name: str
    fn_address: int = 0
    tier: int = 0

    @property
    def granules(self):
        """The 64-byte code granules the block's instructions occupy."""
        return sorted({g for i in self.insns for g in range(i.address >> CODE_SHIFT,
                                                            ((i.address + i.size - 1) >> CODE_SHIFT) + 1)})


class _Slot(ctypes.Structure):
    _fields_ = [("tag", ctypes.c_uint64), ("fn", ctypes.c_uint64)]


@dataclass
class CacheStats:
    translated: int = 0
    invalidated: int = 0
    flushes: int = 0
    granule_invalidations: int = 0


class TranslationCache:
    def __init__(self, memory):
        self.jump_cache = (_Slot * (1 << JUMP_CACHE_BITS))()
        self.jump_cache_address = ctypes.addressof(self.jump_cache)
        self.counters = (ctypes.c_uint64 * MAX_BLOCKS)()
        self.counters_address = ctypes.addressof(self.counters)
        self.chain = (ctypes.c_uint64 * MAX_CHAIN_SLOTS)()
        self.chain_address = ctypes.addressof(self.chain)
        self.chain_slots = {}           # guest address -> chain slot index
        self.blocks = {}
        self.by_granule = {}
        self.next_index = 0
        self.invalidations = {}         # guest address -> times its block was invalidated
        self.stats = CacheStats()
        memory.on_code_write.append(self.invalidate)

    def new_index(self):
        """A fresh counter slot; None when the counter array is full (time to flush)."""
        if self.next_index >= MAX_BLOCKS:
            return None
        self.next_index += 1
        self.counters[self.next_index - 1] = 0
        return self.next_index - 1

    def counter_address(self, index):
        return self.counters_address + 8 * index

    def existing_chain_slot(self, phys):
        """The chain slot address for `phys` if one was allocated, else None (no allocation)."""
        index = self.chain_slots.get(phys)
        return None if index is None else self.chain_address + 8 * index

    def chain_slot_address(self, phys):
        """Native address of the chain slot for blocks starting at `phys` (goto_tb style): a
        predecessor jumps through it directly while it holds code, else returns to the
        dispatcher.  None when all slots are taken."""
        index = self.chain_slots.get(phys)
        if index is None:
            if len(self.chain_slots) >= MAX_CHAIN_SLOTS:
                return None
            index = self.chain_slots[phys] = len(self.chain_slots)
            block = self.blocks.get(phys)
            self.chain[index] = block.fn_address if block else 0
        return self.chain_address + 8 * index

    def insert(self, block):
        self.blocks[block.phys] = block
        for granule in block.granules:
            self.by_granule.setdefault(granule, set()).add(block.phys)
        self._publish(block)
        self.stats.translated += 1

    def _publish(self, block):
        slot = self.jump_cache[jump_cache_index(block.phys)]
        slot.tag, slot.fn = block.phys + 1, block.fn_address
        index = self.chain_slots.get(block.phys)
        if index is not None:
            self.chain[index] = block.fn_address

    def replace(self, block, fn_address, tier):
        """Point a block at recompiled code (tier-up)."""
        block.fn_address, block.tier = fn_address, tier
        if self.blocks.get(block.phys) is block:
            self._publish(block)

    def lookup(self, phys):
        """Refill the jump-cache slot for `phys` if the block exists (evicted by a collision)."""
        block = self.blocks.get(phys)
        if block is not None:
            self._publish(block)
        return block

    def count(self, block):
        return self.counters[block.index]

    def invalidate(self, granule):
        """A store hit code in `granule`: drop the blocks there and unlink them."""
        phys_set = self.by_granule.pop(granule, ())
        if phys_set:
            self.stats.granule_invalidations += 1
        for phys in phys_set:
            block = self.blocks.pop(phys, None)
            if block is None:
                continue
            self.stats.invalidated += 1
            self.invalidations[phys] = self.invalidations.get(phys, 0) + 1
            slot = self.jump_cache[jump_cache_index(phys)]
            if slot.tag == phys + 1:
                slot.tag, slot.fn = 0, 0
            index = self.chain_slots.get(phys)
            if index is not None:
                self.chain[index] = 0          # unlink: predecessors fall back to the dispatcher
            for other in block.granules:
                if other != granule:
                    self.by_granule.get(other, set()).discard(phys)

    def flush(self):
        """Drop everything (the counter array is full, or the CPU mode changed)."""
        ctypes.memset(self.jump_cache, 0, ctypes.sizeof(self.jump_cache))
        ctypes.memset(self.chain, 0, ctypes.sizeof(self.chain))
        self.chain_slots.clear()
        self.stats.invalidated += len(self.blocks)
        self.blocks.clear()
        self.by_granule.clear()
        self.next_index = 0
        self.stats.flushes += 1
