"""The native block table: every translated block by physical address, EIP and mode, for the
dispatcher's lookup when the jump cache misses (QEMU's tb_htable behind its tb_jmp_cache).

The jump cache is keyed by linear EIP and loses entries to collisions and to every flush
of mappings (a CR3 reload, an invlpg).  Before this table each such miss returned to Python,
which found the block in `TranslationCache.blocks` and refilled the slot: about 400,000
round trips of several microseconds in a Linux boot.  Here the dispatcher itself translates
EIP through the software TLB (a miss there still goes to Python, which walks the page
tables) and looks the physical key up in this table, in native code.

The table is keyed by what the block cache keys by, so it never needs flushing when
mappings change: an entry says "the code for (physical address, EIP, mode) is here", which
stays true until the block is dropped or recompiled (`TranslationCache` keeps the two in
step).  Open addressing with linear probing over `capacity` entries of four 64-bit words,
(physical address | EIP << 32, mode, function address, 0); an entry with function 0 is
empty, and a removal shifts later entries of its probe run back (no tombstones), so a probe
stops at the first empty entry.  The capacity is at least twice the blocks that can be live
at once, so a probe is short and always meets an empty entry; `put` refuses an entry past
that load (the dispatcher then misses and Python serves it, as before).

Crossing blocks (their last instruction continues in another page, vmm.translator.blocks)
are never entered: Python checks their second page on every miss.

Example:
    table = BlockTable(limit=4096)
    table.put(phys=0x1000, eip=0xC0001000, mode=4, fn=code_address)
    table.get(0x1000, 0xC0001000, 4)        # -> code_address
    table.remove(0x1000, 0xC0001000, 4)
"""

import ctypes

WORDS = 4                       # words per entry: key, mode, function, padding to 32 bytes
ENTRY_SIZE = 8 * WORDS
HASH_MULTIPLIER = 0x9E3779B97F4A7C15     # Fibonacci hashing: the top bits of key * this
_MASK64 = (1 << 64) - 1


def table_key(phys, eip):
    """The first word of an entry: physical address and EIP of a block."""
    return phys | (eip << 32)


class BlockTable:
    """Native (key, mode) -> function address table the dispatcher reads (module docstring)."""

    def __init__(self, limit):
        self.bits = max(10, (2 * limit - 1).bit_length())
        self.capacity = 1 << self.bits
        self.words = (ctypes.c_uint64 * (self.capacity * WORDS))()
        self.address = ctypes.addressof(self.words)
        self.count = 0

    def _home(self, key):
        """The entry a key's probe starts at (the same hash is emitted in the dispatcher)."""
        return ((key * HASH_MULTIPLIER) & _MASK64) >> (64 - self.bits)

    def _find(self, key, mode):
        """(index of the entry holding key and mode, or of the empty entry ending its probe, found)."""
        words, mask = self.words, self.capacity - 1
        index = self._home(key)
        while True:
            base = index * WORDS
            if words[base + 2] == 0:
                return index, False
            if words[base] == key and words[base + 1] == mode:
                return index, True
            index = (index + 1) & mask

    def get(self, phys, eip, mode):
        """The function address for a block, or None."""
        index, found = self._find(table_key(phys, eip), mode)
        return self.words[index * WORDS + 2] if found else None

    def put(self, phys, eip, mode, fn):
        """Enter or update a block's code address; False if the table is too full to take a
        new entry (the block is then served from Python)."""
        key = table_key(phys, eip)
        index, found = self._find(key, mode)
        if not found:
            if 2 * (self.count + 1) > self.capacity:
                return False
            self.count += 1
        base = index * WORDS
        self.words[base], self.words[base + 1], self.words[base + 2] = key, mode, fn
        return True

    def remove(self, phys, eip, mode):
        """Take a block out, if it is in (backward-shift deletion: the entries after it in its
        probe run move up, so every key stays reachable from its home entry)."""
        index, found = self._find(table_key(phys, eip), mode)
        if not found:
            return
        words, mask = self.words, self.capacity - 1
        self.count -= 1
        hole = index
        probe = (hole + 1) & mask
        while words[probe * WORDS + 2] != 0:
            home = self._home(words[probe * WORDS])
            # The entry at `probe` may fill the hole if its home is not in (hole, probe].
            if (probe - home) & mask >= (probe - hole) & mask:
                words[hole * WORDS:hole * WORDS + WORDS] = words[probe * WORDS:probe * WORDS + WORDS]
                hole = probe
            probe = (probe + 1) & mask
        words[hole * WORDS:hole * WORDS + WORDS] = [0] * WORDS

    def clear(self):
        ctypes.memset(self.words, 0, ctypes.sizeof(self.words))
        self.count = 0
