"""The software TLB's flushes (vmm/x86/tlb.py) after their rewrite to local_pages,
global_pages and the numpy global_map: a CR3 reload (`flush(keep_global=True)`) drops the
non-global entries from every view and keeps the global ones; a full flush drops all;
invlpg drops one page whatever it is; global_map always marks exactly global_pages."""

import numpy

from vmm.memory import PhysicalMemory
from vmm.x86.tlb import VIEWS, Tlb

MiB = 1 << 20
LOCAL = [0x08048000, 0x08049000, 0xBFFFF000, 0x00000000]        # linear pages, non-global
GLOBAL = [0xC0000000, 0xC0001000, 0xFFFFF000]                    # global (kernel) pages


def filled_tlb():
    """A TLB with every LOCAL and GLOBAL page entered in every view, each to its own frame."""
    tlb = Tlb(PhysicalMemory(4 * MiB))
    for n, linear in enumerate(LOCAL + GLOBAL):
        for user, write in VIEWS:
            tlb.fill(linear, 0x100000 + n * 0x1000, user, write, global_=linear in GLOBAL)
    return tlb


def present(tlb, linear):
    """Views (by index) where `linear` hits."""
    return [i for i, (user, write) in enumerate(VIEWS) if tlb.lookup(linear + 0x123, user, write) is not None]


def marked(tlb):
    return {int(page) for page in numpy.flatnonzero(tlb.global_map)}


def test_fill_sorts_pages_into_local_and_global():
    """Filled pages land in local_pages or global_pages by their G bit, and global_map marks
    the global ones; lookups hit in every view with the frame's offset."""
    tlb = filled_tlb()
    assert tlb.local_pages == {linear >> 12 for linear in LOCAL}
    assert tlb.global_pages == {linear >> 12 for linear in GLOBAL}
    assert marked(tlb) == tlb.global_pages
    assert tlb.lookup(0xC0001ABC, user=False, write=True) == 0x100000 + 5 * 0x1000 + 0xABC
    for linear in LOCAL + GLOBAL:
        assert present(tlb, linear) == [0, 1, 2, 3]


def test_cr3_reload_keeps_only_global_entries():
    """flush(keep_global=True): every non-global entry is gone from every view, every global
    one still hits; local_pages is empty, global_pages and global_map unchanged."""
    tlb = filled_tlb()
    tlb.flush(keep_global=True)
    for linear in LOCAL:
        assert present(tlb, linear) == [], hex(linear)
    for linear in GLOBAL:
        assert present(tlb, linear) == [0, 1, 2, 3], hex(linear)
    assert tlb.local_pages == set()
    assert tlb.global_pages == {linear >> 12 for linear in GLOBAL} == marked(tlb)


def test_full_flush_drops_everything():
    """flush() (CR0/CR4 writes): no entry hits in any view, both page sets are empty and
    global_map is all False; after a CR3 reload first, too."""
    for reload_first in (False, True):
        tlb = filled_tlb()
        if reload_first:
            tlb.flush(keep_global=True)
        tlb.flush()
        for linear in LOCAL + GLOBAL:
            assert present(tlb, linear) == [], hex(linear)
        assert tlb.local_pages == tlb.global_pages == set() and not tlb.global_map.any()


def test_refill_after_flushes_is_tracked_again():
    """Pages entered after a flush are flushed by the next one (the sets are rebuilt, not
    left stale), and a page entered as global after a full flush is kept by a reload."""
    tlb = filled_tlb()
    tlb.flush()
    tlb.fill(0x08048000, 0x200000, False, False)
    tlb.fill(0xC0000000, 0x201000, False, False, global_=True)
    tlb.flush(keep_global=True)
    assert present(tlb, 0x08048000) == [] and present(tlb, 0xC0000000) == [0]
    assert marked(tlb) == {0xC0000}
    tlb.flush()
    assert present(tlb, 0xC0000000) == [] and not tlb.global_map.any()


def test_invlpg_drops_one_page_global_or_not():
    """invalidate(linear) drops that page from every view, a global one included (and from
    global_map); the other pages stay."""
    tlb = filled_tlb()
    tlb.invalidate(0xC0001FFF)
    tlb.invalidate(0x08048000)
    assert present(tlb, 0xC0001000) == [] and present(tlb, 0x08048000) == []
    assert 0xC0001 not in tlb.global_pages and 0x08048 not in tlb.local_pages
    assert marked(tlb) == {0xC0000, 0xFFFFF}
    for linear in [0x08049000, 0xBFFFF000, 0xC0000000, 0xFFFFF000]:
        assert present(tlb, linear) == [0, 1, 2, 3]
    tlb.flush(keep_global=True)
    assert present(tlb, 0xC0000000) == [0, 1, 2, 3] and present(tlb, 0x08049000) == []


def test_pages_outside_ram_are_never_entered():
    """A fill whose frame is outside RAM is ignored: no entry, no page in either set."""
    tlb = Tlb(PhysicalMemory(4 * MiB))
    tlb.fill(0xC0000000, 4 * MiB, False, False, global_=True)
    tlb.fill(0x1000, 8 * MiB, False, False)
    assert present(tlb, 0xC0000000) == present(tlb, 0x1000) == []
    assert tlb.local_pages == tlb.global_pages == set() and not tlb.global_map.any()
