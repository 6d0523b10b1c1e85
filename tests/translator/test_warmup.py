"""The jit's warm-up threshold (vmm/translator/engine.py `_warming`, `_ran`;
Machine(jit_threshold=N), `vmm run --jit-threshold`): a block is interpreted for its first
N-1 runs, counted in `translator.warm`, and translated at its N-th; a batch then takes only
the blocks it reaches that have run, unless N is 1 (everything at first run, successors
translated ahead).  Results are the interpreter's either way.  Also
TranslationCache.take_hot, which hands each hot tier-0 block to tier-up once."""

import subprocess
import sys
from types import SimpleNamespace

import pytest

from tests.asmguest import assemble, labels, machine_with
from vmm.cache.tcache import Block, CodeUnit, TranslationCache
from vmm.errors import VmmError
from vmm.machine import Machine
from vmm.memory import PhysicalMemory

JIT_VARIANTS = ("jit", "jit-tier2")     # the threshold is the translator's (`engine` is every engine)

# `again` is a block of its own (add, loop) reached by the loop's back edge; `after` runs
# once, after the loop; `never` is a direct successor of `after` that never runs.
LOOP = """
    mov ecx, {count}
    xor eax, eax
    xor ebx, ebx
again:
    add eax, ecx
    loop again
after:
    cmp eax, 0x7fffffff
    je never
    mov ebx, eax
    jmp done
never:
    mov ebx, 0xdead
done:
    cli
    hlt
"""


def run(variant, count, threshold, max_insns=100_000):
    src = LOOP.format(count=count)
    m = machine_with(variant, src, jit_threshold=threshold)
    return m, m.run(max_insns=max_insns), labels(src)


def registers(m):
    return [m.reg_read(name) for name in ("eax", "ebx", "ecx", "eip")]


@pytest.mark.parametrize("variant", JIT_VARIANTS)
def test_block_is_interpreted_below_the_threshold(variant):
    """With N=5 a block whose 4th run ends the loop is never translated: the translator's
    warm count for it is 4 and it is not in the cache; the registers are the interpreter's."""
    m, result, at = run(variant, count=5, threshold=5)      # `again` runs 4 times (1st pass: ORIGIN's block)
    assert result.reason == "halt", result.message
    blocks = m.translator.cache.blocks
    assert at["again"] not in blocks and m.translator.warm[at["again"]] == 4
    assert at["after"] not in blocks and m.translator.warm[at["after"]] == 1
    i, _, _ = run("interp", count=5, threshold=5)
    assert registers(m) == registers(i)


@pytest.mark.parametrize("variant", JIT_VARIANTS)
def test_block_is_translated_at_its_nth_run(variant):
    """One more pass (5 runs of `again`): the 5th run translates it; blocks that ran once
    (`after`) or never (`never`) are not translated with it."""
    m, result, at = run(variant, count=6, threshold=5)
    assert result.reason == "halt", result.message
    blocks = m.translator.cache.blocks
    assert at["again"] in blocks
    assert blocks[at["again"]].tier == (2 if variant == "jit-tier2" else 0)
    assert at["never"] not in blocks and at["after"] not in blocks
    assert m.translator.warm.get(at["after"]) == 1
    assert m.translator.cache.count(blocks[at["again"]]) == 1           # the translated run
    i, _, _ = run("interp", count=6, threshold=5)
    assert registers(m) == registers(i)


@pytest.mark.parametrize("variant", JIT_VARIANTS)
def test_long_loop_matches_the_interpreter_with_a_threshold(variant):
    """A loop of 1000 passes with N=5 (and N=16, the default) ends as the interpreter does,
    with its block translated and run translated for the passes after the threshold."""
    for threshold in (5, 16):
        m, result, at = run(variant, count=1000, threshold=threshold)
        assert result.reason == "halt", result.message
        i, _, _ = run("interp", count=1000, threshold=threshold)
        assert registers(m) == registers(i)
        block = m.translator.cache.blocks[at["again"]]
        assert m.translator.cache.count(block) == 1000 - 1 - (threshold - 1)


@pytest.mark.parametrize("variant", JIT_VARIANTS)
def test_threshold_one_translates_at_first_run_and_ahead(variant):
    """N=1: the first block is translated at once with the blocks it reaches, even `never`
    (translated ahead, as before the threshold existed); nothing is counted as warming."""
    m, result, at = run(variant, count=3, threshold=1)
    assert result.reason == "halt", result.message
    blocks = m.translator.cache.blocks
    assert {at["again"], at["after"], at["never"]} <= set(blocks)
    assert m.translator.warm == {}
    i, _, _ = run("interp", count=3, threshold=1)
    assert registers(m) == registers(i)


@pytest.mark.parametrize("threshold", [0, -1, (1 << 20) + 1])
def test_threshold_out_of_range_is_an_error(threshold):
    """Machine(jit_threshold=) outside 1..2**20 is a VmmError naming the value."""
    with pytest.raises(VmmError, match=f"jit threshold {threshold} is not between 1 and"):
        Machine(memory_mb=1, engine="jit", jit_threshold=threshold)


def test_cli_threshold_zero_is_a_one_line_error(tmp_path):
    """`vmm run --jit-threshold 0` exits 2 with one error line naming the option."""
    image = tmp_path / "g.bin"
    image.write_bytes(assemble("cli\nhlt", 0x100000))
    done = subprocess.run([sys.executable, "-m", "vmm", "run", image, "--load-address", "0x100000",
                           "--jit-threshold", "0"], capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert done.stderr.count(b"\n") == 1 and b"Traceback" not in done.stderr, done.stderr
    assert b"--jit-threshold" in done.stderr and b"at least 1" in done.stderr


# ---- TranslationCache.take_hot ----------------------------------------------------------------

def fake_block(cache, phys, tier=0):
    """A one-instruction block at `phys` (no code behind it: only the cache's bookkeeping)."""
    insn = SimpleNamespace(address=phys, size=4)
    return Block(phys, [insn], phys + 4, cache.new_index(), f"b{phys:x}", fn_address=0x1000 + phys, tier=tier)


@pytest.fixture
def cache():
    return TranslationCache(PhysicalMemory(1 << 20), limit=16)


def test_take_hot_returns_each_hot_tier0_block_once(cache):
    """Blocks at or over the run count are returned once; later calls return only blocks
    that became hot since; cooler blocks and tier-2 blocks never."""
    blocks = [fake_block(cache, 0x1000 * n) for n in range(1, 5)] + [fake_block(cache, 0x9000, tier=2)]
    cache.install(CodeUnit("lib", len(blocks)), blocks)
    for block, runs in zip(blocks, (10, 3, 9, 0, 50)):
        cache.counters[block.index] = runs
    assert cache.take_hot(9) == [blocks[0], blocks[2]]
    assert cache.take_hot(9) == []
    cache.counters[blocks[1].index] = 9
    assert cache.take_hot(9) == [blocks[1]]
    assert cache.take_hot(0) == [blocks[3]]
    assert cache.take_hot(0) == []


def test_take_hot_skips_dropped_blocks_and_counts_reused_slots_afresh(cache):
    """A hot block invalidated before it was taken is not returned; a new block given its
    counter slot starts from zero and is returned when it is hot itself."""
    old = fake_block(cache, 0x2000)
    keep = fake_block(cache, 0x3000)
    cache.install(CodeUnit("lib", 2), [old, keep])
    cache.counters[old.index] = cache.counters[keep.index] = 100
    cache.invalidate(0x2000 >> 6)                      # a store into old's code granule
    assert old.key not in cache.blocks
    new = fake_block(cache, 0x4000)
    assert new.index == old.index
    cache.install(CodeUnit("lib2", 1), [new])
    assert cache.take_hot(50) == [keep]
    cache.counters[new.index] = 50
    assert cache.take_hot(50) == [new]
    cache.flush()
    assert cache.take_hot(0) == []
