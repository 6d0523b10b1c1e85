"""Jump-cache flushes (vmm/cache/tcache.py `flush_jump_cache`, called by
Machine.mappings_changed): an invlpg forgets only the entries of its linear page, a CR3
reload all but those of global pages (`keep`, the TLB's global_map), a paging mode change
all; tier-2 code replaces a block's code only in a slot that still runs it
(`TranslationCache.replace`).  Then, on every engine, guests whose code pages are remapped
run the new page's code after invlpg, and after a CR3 reload unless the page is global."""

from types import SimpleNamespace

import numpy
import pytest

from tests.asmguest import ORIGIN, assemble, machine_with, new_machine
from tests.x86.test_paging import ALIAS, ALIAS_PHYS, G, P, PD, PROLOGUE, PT1, RW, tables
from vmm.cache.tcache import FEW_PAGES, Block, CodeUnit, TranslationCache, jump_tag
from vmm.memory import PhysicalMemory
from vmm.translator.dispatch import jump_cache_index
from vmm.translator.exits import MISS
from vmm.x86.mode import MODE_PAGING

PAGE_A, PAGE_B = 0xC0123000, 0x08048000
EIPS_A = [PAGE_A + 16 * k for k in range(8)] + [PAGE_A + 0xFFF]
EIPS_B = [PAGE_B + 16 * k for k in range(8)] + [PAGE_B + 0xFFF]
MODES = {PAGE_A: 0b01, PAGE_B: 0b11}          # tags carry mode bits above the EIP


def fill(cache, eips):
    """Publish a jump-cache entry (a block with a fake code address) for each EIP, as a miss
    does; every one in its own slot (checked, so a collision cannot hide a flush)."""
    slots = {jump_cache_index(eip) for eip in eips}
    assert len(slots) == len(eips)
    for k, eip in enumerate(eips):
        cache.publish(Block(eip & 0xFFFFF, [], 0, k, "fake", 0x7000_0000 + eip, eip=eip, mode=MODES[eip & ~0xFFF]))


def cached(cache, eip):
    """True if `eip`'s entry is still in its slot."""
    return cache.jump_cache[jump_cache_index(eip)].tag == jump_tag(eip, MODES[eip & ~0xFFF])


@pytest.fixture
def cache():
    tc = TranslationCache(PhysicalMemory(1 << 20), limit=64)
    fill(tc, EIPS_A + EIPS_B)
    return tc


def test_page_flush_clears_only_that_pages_slots(cache):
    """flush_jump_cache(page=an address in page A) empties A's slots, whatever the mode bits
    in their tags, and leaves B's."""
    cache.flush_jump_cache(page=PAGE_A + 0x567)
    assert not any(cached(cache, eip) for eip in EIPS_A)
    assert all(cached(cache, eip) for eip in EIPS_B)
    assert cache.stats.jump_cache_flushes == 1
    cache.flush_jump_cache(page=PAGE_B)
    assert not any(cached(cache, eip) for eip in EIPS_B)


def test_a_page_flush_spares_a_slot_another_page_took_since():
    """The flush clears the slots page A was published to, unless another page's entry has
    replaced A's there since (a collision): that entry stays."""
    tc = TranslationCache(PhysicalMemory(1 << 20), limit=64)
    eip_a = EIPS_A[0]
    eip_b = next(eip for eip in range(PAGE_B, PAGE_B + 0x10000) if jump_cache_index(eip) == jump_cache_index(eip_a))
    MODES[eip_b & ~0xFFF] = 0b11
    fill(tc, [eip_a])
    fill(tc, [eip_b])
    tc.flush_jump_cache(page=PAGE_A)
    assert cached(tc, eip_b)


def test_page_flush_of_an_unrelated_page_keeps_everything(cache):
    """A page next to A (or one with no entries) clears nothing."""
    cache.flush_jump_cache(page=PAGE_A + 0x1000)
    cache.flush_jump_cache(page=PAGE_A - 1)
    assert all(cached(cache, eip) for eip in EIPS_A + EIPS_B)


def test_keep_spares_the_marked_pages(cache):
    """flush_jump_cache(keep=map by page number) clears every slot but those of the pages
    marked (the global pages a CR3 reload keeps)."""
    keep = numpy.zeros(1 << 20, dtype=bool)
    keep[PAGE_A >> 12] = True
    cache.flush_jump_cache(keep=keep)
    assert all(cached(cache, eip) for eip in EIPS_A)
    assert not any(cached(cache, eip) for eip in EIPS_B)
    cache.flush_jump_cache(keep=numpy.zeros(1 << 20, dtype=bool))
    assert not any(cached(cache, eip) for eip in EIPS_A)


def test_no_argument_clears_every_slot(cache):
    """flush_jump_cache() empties every slot (a tag of 0: the dispatcher reads no code
    address past a tag that does not match), slot by slot for a few pages."""
    cache.flush_jump_cache()
    assert not any(cached(cache, eip) for eip in EIPS_A + EIPS_B)
    assert not cache.jump_tags.any() and not cache.page_slots


def test_machine_mappings_changed_flushes_as_the_tlb_does():
    """Machine.mappings_changed: with `page` the jump cache loses that page's slots (invlpg);
    with keep_global the TLB's global pages' slots stay (CR3 reload with PGE); else all go."""
    m = machine_with("jit", "cli\nhlt")
    assert m.run(max_insns=10).reason == "halt"          # the translator exists from the first run
    cache = m.translator.cache
    fill(cache, EIPS_A + EIPS_B)
    m.mappings_changed(page=PAGE_B + 0x10)
    assert all(cached(cache, eip) for eip in EIPS_A) and not any(cached(cache, eip) for eip in EIPS_B)
    fill(cache, EIPS_B)
    m.mmu.tlb.fill(PAGE_A, 0x1000, False, False, global_=True)
    m.mappings_changed(keep_global=True)
    assert all(cached(cache, eip) for eip in EIPS_A) and not any(cached(cache, eip) for eip in EIPS_B)
    m.mappings_changed()
    assert not any(cached(cache, eip) for eip in EIPS_A)


# Guest-level: code at linear ALIAS (PT1 entry 0) and ALIAS + 4 KiB (entry 1), each
# `mov eax, N; ret` in a frame of its own; the guest calls both in a loop (so the jit has them
# translated and in its jump cache), then remaps them to frames holding other code.
OLD_A, NEW_A, OLD_B, NEW_B = ALIAS_PHYS, 0x160000, 0x170000, 0x180000


def code_machine(engine, body, global_a=False):
    """The guest above, then `body`; `global_a`: the first page is global and CR4.PGE is set."""
    extra = (("pte", ALIAS, OLD_A | P | RW | (G if global_a else 0)), ("pte", ALIAS + 0x1000, OLD_B | P | RW))
    m = new_machine(engine)
    for addr, blob in tables(extra).items():
        m.mem_write(addr, blob)
    for frame, value in ((OLD_A, 1), (NEW_A, 2), (OLD_B, 3), (NEW_B, 4)):
        m.mem_write(frame, assemble(f"mov eax, {value}\nret", 0))
    warm = f"""
        mov ecx, 50
    warm:
        call {ALIAS:#x}
        call {ALIAS + 0x1000:#x}
        loop warm
    """
    pge = "mov eax, cr4\nor eax, 0x80\nmov cr4, eax\n" if global_a else ""
    m.mem_write(ORIGIN, assemble(pge + PROLOGUE + warm + body + "\ncli\nhlt\n"))
    m.reg_write("eip", ORIGIN)
    m.reg_write("esp", 0x80000)
    return m


def test_invlpg_of_a_remapped_code_page_runs_the_new_code(engine):
    """Both code pages remapped; invlpg of only the first: its linear address now runs the
    new frame's code.  The second, not invalidated, may still use its old translation (as the
    TLB may), and after its own invlpg runs the new one too."""
    m = code_machine(engine, f"""
        mov dword ptr [{PT1:#x}], {NEW_A | P | RW:#x}
        mov dword ptr [{PT1 + 4:#x}], {NEW_B | P | RW:#x}
        invlpg [{ALIAS:#x}]
        call {ALIAS:#x}
        mov esi, eax
        call {ALIAS + 0x1000:#x}
        mov edi, eax
        invlpg [{ALIAS + 0x1000:#x}]
        call {ALIAS + 0x1000:#x}
    """)
    result = m.run(max_insns=10_000)
    assert result.reason == "halt", result.message
    assert m.reg_read("esi") == 2
    assert m.reg_read("edi") == 3          # vmm keeps the stale TLB entry until invlpg
    assert m.reg_read("eax") == 4


def test_cr3_reload_keeps_a_global_code_page_until_invlpg(engine):
    """With CR4.PGE, code in a global page keeps running from its old frame across a CR3
    reload (its TLB and jump-cache entries survive) while the non-global page runs its new
    frame; invlpg of the global page then brings its new code."""
    m = code_machine(engine, f"""
        mov dword ptr [{PT1:#x}], {NEW_A | P | RW | G:#x}
        mov dword ptr [{PT1 + 4:#x}], {NEW_B | P | RW:#x}
        mov eax, {PD:#x}
        mov cr3, eax
        call {ALIAS:#x}
        mov esi, eax
        call {ALIAS + 0x1000:#x}
        mov edi, eax
        invlpg [{ALIAS:#x}]
        call {ALIAS:#x}
    """, global_a=True)
    result = m.run(max_insns=10_000)
    assert result.reason == "halt", result.message
    assert (m.reg_read("esi"), m.reg_read("edi"), m.reg_read("eax")) == (1, 4, 2)


def test_tier_two_code_replaces_only_the_blocks_own_slot():
    """TranslationCache.replace (tier-up code arriving) puts the new code in the jump-cache
    slot of the block's EIP only if that slot still runs the block's old code: after a
    switch of address space the slot may hold another block at the same EIP (another
    frame), which must stay; an emptied slot stays empty until a miss refills it."""
    cache = TranslationCache(PhysicalMemory(1 << 20), limit=64)
    mine, other = (Block(phys, [SimpleNamespace(address=PAGE_B, size=4)], PAGE_B + 4, cache.new_index(),
                         f"b{phys:x}", fn_address=0x7000_0000 + phys, eip=PAGE_B, mode=MODE_PAGING)
                   for phys in (0x10000, 0x20000))
    cache.install(CodeUnit("lib", 2), [mine, other])          # `other` was published last
    slot = cache.jump_cache[jump_cache_index(PAGE_B)]
    cache.replace(mine, 0x7100_0000, 2, CodeUnit("lib2", 1))
    assert (slot.tag, slot.fn) == (jump_tag(PAGE_B, MODE_PAGING), other.fn_address)
    cache.replace(other, 0x7200_0000, 2, CodeUnit("lib3", 1))
    assert slot.fn == 0x7200_0000                             # its own slot: the new code
    cache.flush_jump_cache()
    cache.replace(other, 0x7300_0000, 2, CodeUnit("lib4", 1))
    assert slot.tag == 0
    assert cache.lookup(other.key) is other and slot.fn == 0x7300_0000


@pytest.mark.parametrize("variant", ["jit", "jit-tier2"])
@pytest.mark.parametrize("paged", [False, True], ids=["flat", "paged"])
def test_blocks_missing_from_the_jump_cache_are_found_without_python(variant, paged):
    """The dispatcher looks a jump-cache miss up in the native block table (through the TLB
    with paging on): once a loop's blocks are translated, a pass after emptying the jump
    cache returns to Python for a miss as often as a pass without (never: even the final
    `hlt` is a monitor call inside its block) and computes the same."""
    loop = """
    again:
        mov ecx, 40
    top:
        call one
        call two
        loop top
        cli
        hlt
    one:
        inc eax
        ret
    two:
        add ebx, 2
        ret
    """
    m = new_machine(variant, jit_threshold=1)
    if paged:
        for addr, blob in tables().items():
            m.mem_write(addr, blob)
    m.mem_write(ORIGIN, assemble((PROLOGUE if paged else "") + loop))
    m.reg_write("eip", ORIGIN)
    m.reg_write("esp", 0x80000)
    assert m.run(max_insns=10_000).reason == "halt"

    def another_pass(flush):
        if flush:
            m.translator.cache.flush_jump_cache()
        misses = m.translator.exits[MISS]
        for reg, value in (("eip", ORIGIN + len(assemble(PROLOGUE)) if paged else ORIGIN), ("eax", 0), ("ebx", 0)):
            m.reg_write(reg, value)
        assert m.run(max_insns=10_000).reason == "halt"
        assert (m.reg_read("eax"), m.reg_read("ebx")) == (40, 80)
        return m.translator.exits[MISS] - misses

    assert another_pass(flush=True) == another_pass(flush=False) == 0


@pytest.mark.parametrize("pages", [3, FEW_PAGES + 5])
def test_full_and_global_keeping_flushes_with_few_and_many_pages(pages):
    """Up to FEW_PAGES published pages a flush clears their slots one by one; past that it
    clears the table at once (memset, or a vector pass keeping the global pages)."""
    eips = [0x40000000 + 0x1000 * k + 0x20 for k in range(pages)]
    MODES.update({eip & ~0xFFF: 0b01 for eip in eips})
    for keep_first in (False, True):
        tc = TranslationCache(PhysicalMemory(1 << 20), limit=1024)
        fill(tc, eips)
        keep = None
        if keep_first:
            keep = numpy.zeros(1 << 20, dtype=bool)
            keep[eips[0] >> 12] = True
        tc.flush_jump_cache(keep=keep)
        assert [cached(tc, eip) for eip in eips] == [keep_first] + [False] * (pages - 1)
