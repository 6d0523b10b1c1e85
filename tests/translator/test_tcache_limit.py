"""The translation cache stays bounded: a guest that writes and calls more distinct code than
the limit runs correctly, blocks are evicted, and the JIT code of dead blocks is freed."""

import pytest

from vmm.machine import Machine
from tests.asmguest import machine_with

# 400 functions written at 0x20000 + 16 * i, each `mov eax, 3i+1; add eax, ecx; ret`, and
# called: 400 distinct blocks, more as they share 64-byte granules with the next one written.
# The area starts filled with hlt, so a batch does not run on into it.
GENERATOR = """
    mov edi, 0x20000
    mov ecx, 400 * 16
    mov al, 0xF4
    rep stosb
    mov esi, 0x20000
    xor ebx, ebx
    xor ecx, ecx
next:
    mov byte ptr [esi], 0xB8
    lea eax, [ecx + ecx*2 + 1]
    mov dword ptr [esi + 1], eax
    mov dword ptr [esi + 5], 0xC3C801
    call esi
    add ebx, eax
    add esi, 16
    inc ecx
    cmp ecx, 400
    jb next
    cli
    hlt
"""
EXPECTED = sum(4 * i + 1 for i in range(400))
LIMIT = 16


def no_dead_code_kept(t):
    """Every block library still loaded runs some live block's code, or waits in `dead` for
    the next point where no translated code runs."""
    live = {block.unit.library for block in t.cache.blocks.values()}
    return t.jit.loaded() == len(live) + len(t.cache.dead)


@pytest.mark.parametrize("tier", [0, 2])
def test_more_code_than_the_limit_runs_with_bounded_cache(tier):
    m = machine_with("jit", GENERATOR, jit_tier=tier, tcache_size=LIMIT)
    held = []
    m.memory.on_code_write.append(lambda granule: held.append(m.translator.cache.held))
    result = m.run(max_insns=1_000_000)
    interp = machine_with("interp", GENERATOR)
    interp.run(max_insns=1_000_000)
    assert result.reason == "halt"
    assert m.reg_read("ebx") == interp.reg_read("ebx") == EXPECTED
    assert m.state.icount == interp.state.icount
    t = m.translator
    t.drain()
    stats = t.stats()
    assert stats["translated"] > 10 * LIMIT                 # far more code than the cache holds
    assert stats["evictions"] >= 1 and stats["link"]["freed"] > 0
    assert max(held) <= LIMIT + 8 and stats["held_blocks"] <= LIMIT + 8   # + one tier-2 batch
    assert stats["libraries"] <= LIMIT
    assert stats["link"]["resets"] == stats["evictions"]
    assert no_dead_code_kept(t)


LOOP = """
    mov ecx, 100000
    xor eax, eax
top:
    add eax, ecx
    dec ecx
    jnz top
    cli
    hlt
"""


def test_tier_two_code_of_dropped_blocks_is_never_installed():
    m = machine_with("jit", LOOP)
    m.run(max_insns=20_000)                   # the loop is hot: its tier-2 compile is under way
    t = m.translator
    assert t.tier2_jobs or t.jit.stats[2]["functions"] > 0
    m.invalidate_translations()               # every block dropped while it compiles
    t.drain()
    assert not t.cache.blocks
    assert not any(slot.fn for slot in t.cache.jump_cache)
    assert not any(t.cache.chain)
    result = m.run()
    assert result.reason == "halt" and m.reg_read("eax") == sum(range(1, 100001)) & 0xFFFFFFFF
    t.drain()
    assert no_dead_code_kept(t)


def test_code_of_invalidated_blocks_is_freed():
    m = machine_with("jit", GENERATOR)
    m.run()
    t = m.translator
    assert t.cache.stats.invalidated > 0 and t.jit.link_stats["freed"] > 0
    assert no_dead_code_kept(t)


def test_bad_limit_is_refused():
    from vmm.errors import VmmError
    with pytest.raises(VmmError):
        Machine(engine="jit", tcache_size=0)
