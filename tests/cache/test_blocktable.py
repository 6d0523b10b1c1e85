"""The native block table (vmm/cache/blocktable.py) against a dict: entries put, updated and
removed in random order stay findable (backward-shift removal keeps every probe run whole,
checked with a table small enough that homes collide), a full table refuses new keys; and
the translation cache keeps it in step with its blocks (installed, recompiled, invalidated,
flushed; crossing blocks never entered)."""

import random
from types import SimpleNamespace

from vmm.cache.blocktable import WORDS, BlockTable
from vmm.cache.tcache import Block, CodeUnit, TranslationCache
from vmm.memory import PhysicalMemory


def entries(table):
    """Every (key word, mode, function) in the table, as stored."""
    w = table.words
    return {(w[i * WORDS], w[i * WORDS + 1]): w[i * WORDS + 2] for i in range(table.capacity) if w[i * WORDS + 2]}


def test_random_puts_and_removes_agree_with_a_dict():
    rng = random.Random(7)
    table = BlockTable(limit=512)                 # 1,024 entries
    model = {}
    pool = [(rng.randrange(1 << 20) & ~0xF, rng.choice((0x1000, 0xC0000000)), rng.randrange(8)) for _ in range(700)]
    for step in range(20_000):
        phys, base, mode = block = rng.choice(pool)
        eip = base + phys
        if block in model and rng.random() < 0.5:
            table.remove(phys, eip, mode)
            del model[block]
        elif block in model or len(model) < 512:
            fn = rng.randrange(1, 1 << 48)
            assert table.put(phys, eip, mode, fn)
            model[block] = fn
        if step % 997 == 0:
            for (p, b, md), fn in model.items():
                assert table.get(p, b + p, md) == fn
    for (p, b, md), fn in model.items():
        assert table.get(p, b + p, md) == fn
    absent = [blk for blk in pool if blk not in model]
    assert all(table.get(p, b + p, md) is None for p, b, md in absent)
    assert table.count == len(model) == len(entries(table))


def test_keys_sharing_a_home_entry_survive_removals_in_any_order():
    table = BlockTable(limit=8)                   # 1,024 entries: force a shared home instead
    home = table._home(0x1000)
    same_home = [p for p in range(0, 1 << 24, 16) if table._home(p) == home][:6]
    for order in ([0, 1, 2, 3, 4, 5], [2, 0, 5, 1, 4, 3]):
        for k, phys in enumerate(same_home):
            table.put(phys, 0, 0, 100 + k)
        for removed, k in enumerate(order):
            table.remove(same_home[k], 0, 0)
            left = [j for j in range(6) if j not in order[:removed + 1]]
            assert [table.get(same_home[j], 0, 0) for j in left] == [100 + j for j in left]
            assert table.get(same_home[k], 0, 0) is None
        assert table.count == 0


def test_a_table_at_half_load_refuses_new_keys_but_updates_old_ones():
    table = BlockTable(limit=8)
    for phys in range(table.capacity // 2):
        assert table.put(phys << 4, 0, 0, 1)
    assert not table.put(0xFFFF0, 0, 0, 1)
    assert table.put(0, 0, 0, 2) and table.get(0, 0, 0) == 2
    table.clear()
    assert table.count == 0 and table.get(0, 0, 0) is None and table.put(0xFFFF0, 0, 0, 3)


def _block(cache, phys, eip, fn, phys2=None):
    insns = [SimpleNamespace(address=eip, size=4)]
    return Block(phys, insns, eip + 4, cache.new_index(), f"b{phys:x}", fn_address=fn, eip=eip, mode=4, phys2=phys2)


def test_the_translation_cache_keeps_the_table_in_step_with_its_blocks():
    cache = TranslationCache(PhysicalMemory(1 << 20), limit=64)
    plain = _block(cache, 0x10000, 0xC0010000, 0x7000_0000)
    crossing = _block(cache, 0x20FFE, 0xC0020FFE, 0x7000_1000, phys2=0x30000)
    other = _block(cache, 0x40000, 0xC0040000, 0x7000_2000)
    cache.install(CodeUnit("lib", 3), [plain, crossing, other])
    table = cache.table
    assert table.get(0x10000, 0xC0010000, 4) == 0x7000_0000
    assert table.get(0x20FFE, 0xC0020FFE, 4) is None            # checked by Python at every miss
    cache.replace(plain, 0x7100_0000, 2, CodeUnit("lib2", 1))
    assert table.get(0x10000, 0xC0010000, 4) == 0x7100_0000      # never the old (freed) code
    cache.memory.write(0x10000, b"\x90")                        # a store into its code granule
    assert 0x10000 not in {b.phys for b in cache.blocks.values()}
    assert table.get(0x10000, 0xC0010000, 4) is None
    assert table.get(0x40000, 0xC0040000, 4) == 0x7000_2000
    cache.flush()
    assert table.count == 0 and table.get(0x40000, 0xC0040000, 4) is None
