"""The persistent translation cache: a second run links the first run's code instead of
compiling it and gives the same results; corrupt entries are recompiled; the CPU mode is
part of the key; other salts' directories are pruned, the most recently used kept."""

import os

import pytest

from vmm.cache.disk import KEEP, USED, DiskCache, prune
from vmm.translator.engine import Translator
from tests.asmguest import machine_with, ORIGIN
from tests.translator.test_translator import LOOP as GUEST



@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("VMM_CACHE_DIR", str(tmp_path))
    return tmp_path / "vmm" / "tcache"


def new_machine(**options):
    return machine_with("jit", GUEST, persistent_tcache=True, **options)


def run(**options):
    m = new_machine(**options)
    result = m.run(max_insns=2_000_000)
    m.translator.drain()
    return m, result


def test_second_run_links_cached_code(cache_home):
    first, result1 = run()
    assert first.translator.disk.stats["stores"] >= 1 and first.translator.translation[0]["loaded"] == 0
    second, result2 = run()
    t = second.translator
    assert t.disk.stats["hits"] >= 1 and t.disk.stats["misses"] == 0
    assert t.translation[0]["loaded"] == t.translation[0]["blocks"] > 0
    assert t.jit.stats[0]["modules"] == 1           # the flags helper only: no block compiled at tier 0
    assert result2.translation["loaded"] == t.translation[0]["blocks"]
    assert (second.reg_read("eax"), second.state.icount) == (first.reg_read("eax"), first.state.icount)
    assert result1.reason == result2.reason == "halt"


def stored(cache_home):
    """Every file the cache wrote but the salt directory's last-used mark."""
    return [p for p in cache_home.rglob("*") if p.is_file() and p.name != USED]


def entries(cache_home):
    return [p for p in stored(cache_home) if "index" not in p.relative_to(cache_home).parts]


def test_corrupt_entries_are_recompiled(cache_home):
    first, _ = run()
    files = stored(cache_home)
    assert entries(cache_home) and len(files) > len(entries(cache_home))     # batches and their index
    for path in files:
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2])      # truncated
    second, _ = run()
    t = second.translator
    assert t.disk.stats["bad"] == len(entries(cache_home)) and t.translation[0]["loaded"] == 0
    assert second.reg_read("eax") == first.reg_read("eax")
    third, _ = run()                                 # the bad files were replaced
    assert third.translator.disk.stats["hits"] >= 1 and third.translator.disk.stats["bad"] == 0


def test_flipped_byte_is_caught(cache_home):
    run()
    for path in stored(cache_home):
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))
    second, _ = run()
    assert second.translator.disk.stats["bad"] >= 1 and second.translator.translation[0]["loaded"] == 0


def test_other_mode_bits_miss(cache_home):
    run()
    m = new_machine()
    m.state.seg[1].selector |= 3                     # CPL 3: another translation mode
    t = m.translator = Translator(m)
    t.translate(ORIGIN)
    assert t.disk.stats["hits"] == 0 and t.disk.stats["misses"] == 1
    m.state.seg[1].selector &= ~3
    t.translate(ORIGIN)                              # back at CPL 0: the first run's entry
    assert t.disk.stats["hits"] == 1


def test_off_by_default(cache_home):
    m = machine_with("jit", GUEST)
    m.run(max_insns=100_000)
    assert m.translator.disk is None and not cache_home.exists()


def test_a_warm_cache_links_a_block_at_its_first_run_instead_of_warming_it_up(cache_home):
    """With a jit threshold, a first run interprets each block a few times before compiling
    it; a second run finds the block in the cache's per-block index at its first miss."""
    first, _ = run(jit_threshold=5)
    assert first.translator.translation[0]["blocks"] > 0
    second, _ = run(jit_threshold=5)
    t = second.translator
    assert t.translation[0]["loaded"] == t.translation[0]["blocks"] == first.translator.translation[0]["blocks"]
    assert set(t.cache.blocks) == set(first.translator.cache.blocks)
    assert not set(t.warm) & set(t.cache.blocks)   # none of them was interpreted to warm it up
    assert (second.reg_read("eax"), second.state.icount) == (first.reg_read("eax"), first.state.icount)
    # Linked by their bytes: no block below tier 2 had to be decoded.
    assert all(not block.insns.decoded for block in t.cache.blocks.values() if block.tier == 0)


# A loop whose body is one block with more than INDEX_BYTES before its `xor`.
LONG_BLOCK = """
    mov ecx, 2000
    xor eax, eax
top:
""" + "    add eax, 1\n" * 6 + """    xor eax, 0x55
    dec ecx
    jnz top
    cli
    hlt
"""


def test_a_block_whose_bytes_changed_after_its_index_prefix_is_compiled_again(cache_home):
    """The index finds a block by its first INDEX_BYTES; the batch's key covers the rest."""
    machine_with("jit", LONG_BLOCK, persistent_tcache=True, jit_threshold=5).run(max_insns=100_000)
    changed = LONG_BLOCK.replace("xor eax, 0x55", "xor eax, 0x66")
    patched = machine_with("jit", changed, persistent_tcache=True, jit_threshold=5)
    patched.run(max_insns=100_000)
    reference = machine_with("interp", changed)
    reference.run(max_insns=100_000)
    assert patched.reg_read("eax") == reference.reg_read("eax")
    assert patched.translator.translation[0]["loaded"] < patched.translator.translation[0]["blocks"]


def test_an_index_entry_for_changed_code_is_not_used(cache_home):
    run(jit_threshold=5)
    patched = machine_with("jit", GUEST.replace("xor eax, 0x55", "xor eax, 0x66"), persistent_tcache=True,
                           jit_threshold=5)
    patched.run(max_insns=2_000_000)
    reference = machine_with("interp", GUEST.replace("xor eax, 0x55", "xor eax, 0x66"))
    reference.run(max_insns=2_000_000)
    assert patched.reg_read("eax") == reference.reg_read("eax")


def test_a_crossing_block_is_keyed_by_the_bytes_of_both_pages(cache_home):
    """A block whose last instruction crosses into the next page (paging on) is stored by
    the bytes of both pages: a second run links it (with the same second frame) and gives
    the same results; a run whose second page holds other bytes, while the frame physically
    after the first page is unchanged, compiles its own block and runs the new bytes."""
    from tests.translator.test_crossing_blocks import SECOND_PHYS, crossing_block, machine, second_page

    def run_crossing(selector):
        m = machine("jit", "", 200, persistent_tcache=True)
        m.mem_write(SECOND_PHYS, second_page(selector))
        assert m.run(max_insns=100_000).reason == "halt"
        return m, m.translator

    first, t = run_crossing(0xF0)
    assert t.translation[0]["loaded"] == 0 and crossing_block(first).phys2 == SECOND_PHYS
    second, t = run_crossing(0xF0)
    assert t.translation[0]["loaded"] == t.translation[0]["blocks"] > 0
    assert crossing_block(second).phys2 == SECOND_PHYS
    assert first.reg_read("esi") == second.reg_read("esi") == 200
    assert first.state.icount == second.state.icount
    other, t = run_crossing(0xF1)
    assert t.translation[0]["loaded"] < t.translation[0]["blocks"]
    assert other.reg_read("esi") == 400


def test_other_salts_are_pruned_but_the_most_recently_used(tmp_path):
    """A cache directory with this salt's entries, older salts' (marked used at different
    times, one never marked) and the flat layout of earlier vmm versions: the prune keeps
    this salt and the KEEP - 1 others used last, and removes everything else."""
    base = tmp_path / "tcache"
    for age, name in enumerate(f"{k:016x}" for k in range(1, 8)):
        (base / name / "ab").mkdir(parents=True)
        (base / name / "ab" / "entry").write_bytes(b"x")
        (base / name / USED).touch()
        os.utime(base / name / USED, (1_000_000 - age, 1_000_000 - age))    # 1 is the newest
    (base / "00000000000000ff").mkdir()                                     # never marked
    (base / "index" / "cd").mkdir(parents=True)                             # the old flat layout
    (base / "3f").mkdir()
    (base / "stray").write_bytes(b"x")
    disk = DiskCache(base, b"this run's salt", prune_in_background=False)
    current = disk.directory.name
    removed = prune(base, current)
    kept = sorted(p.name for p in base.iterdir())
    assert kept == sorted([current] + [f"{k:016x}" for k in range(1, KEEP)])
    assert {"index", "3f", "stray", "00000000000000ff", f"{KEEP:016x}"} <= set(removed)
    assert (disk.directory / USED).exists()
    assert prune(base, current) == []            # nothing more to remove
