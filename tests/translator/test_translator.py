"""The translator's own guarantees: chaining without Python, self-modifying code, cache
invalidation, precise exceptions, batching and tiers."""

from vmm.cache.tcache import jump_cache_index

from tests.asmguest import assemble, labels, run_asm, machine_with

LOOP = """
    mov ecx, 100000
    xor eax, eax
top:
    add eax, ecx
    test ecx, 1
    jz even
    xor eax, 0x55
even:
    dec ecx
    jnz top
    cli
    hlt
"""


def test_hot_loop_runs_without_returning_to_python():
    m, result = run_asm("jit", LOOP)
    assert result.reason == "halt"
    stats = m.translator.stats()
    # 100000 iterations of a loop of two or three blocks: blocks ran natively 200000+
    # times while the dispatcher was entered from Python only a handful of times.
    assert stats["block_executions"] >= 200_000
    assert stats["dispatcher_entries"] < 20


def test_loop_result_matches_interpreter():
    jit, _ = run_asm("jit", LOOP)
    interp, _ = run_asm("interp", LOOP)
    assert jit.reg_read("eax") == interp.reg_read("eax")
    assert jit.state.icount == interp.state.icount


SMC = """
    mov ecx, 5
    xor eax, eax
again:
patch:
    add eax, 1              ; 83 c0 01: the immediate byte is patched below
    mov byte ptr [patch + 2], 10
    dec ecx
    jnz again
    cli
    hlt
"""


def test_self_modifying_loop(engine):
    m, result = run_asm(engine, SMC)
    assert result.reason == "halt"
    assert m.reg_read("eax") == 1 + 4 * 10       # the first pass adds 1, then the patched 10


def test_store_to_translated_page_invalidates_blocks():
    m, _ = run_asm("jit", SMC)
    assert m.translator.cache.stats.invalidated >= 1


def test_write_through_api_invalidates_translation():
    m = machine_with("jit", "mov eax, 1\ncli\nhlt")
    m.run()
    assert m.reg_read("eax") == 1
    m.mem_write(0x1000, bytes([0xB8, 2, 0, 0, 0]))          # mov eax, 2
    m.reg_write("eip", 0x1000)
    m.run()
    assert m.reg_read("eax") == 2


PRECISE_DE = """
    mov eax, 7
    mov ebx, 9
    push 0x1234
    xor ecx, ecx
    add ebx, 1
    div ecx
    mov eax, 99
"""


def test_divide_fault_is_precise(engine):
    m, result = run_asm(engine, PRECISE_DE)
    assert result.reason == "error" and result.fault == 0
    div_address = 0x1000 + 5 + 5 + 5 + 2 + 3
    assert m.reg_read("eip") == div_address
    assert (m.reg_read("eax"), m.reg_read("ebx"), m.reg_read("esp")) == (7, 10, 0x80000 - 4)
    assert m.state.icount == 5                    # the faulting div did not retire


def test_out_of_ram_store_is_precise(engine):
    m, result = run_asm(engine, "mov eax, 3\nmov ebx, 0x7fffff00\ninc eax\nmov dword ptr [ebx], eax\nmov eax, 0")
    assert result.reason == "error" and "outside guest RAM" in result.message
    assert m.reg_read("eax") == 4 and m.reg_read("eip") == 0x1000 + 5 + 5 + 1


def test_hot_blocks_are_promoted_to_tier_two():
    m, _ = run_asm("jit", LOOP)
    m.translator.drain()                     # tier 2 compiles on a background thread
    tiers = {block.tier for block in m.translator.cache.blocks.values()}
    assert 2 in tiers and m.translator.jit.stats[2]["functions"] >= 1


def test_miss_translates_a_batch_in_one_module():
    m, _ = run_asm("jit", LOOP)
    stats = m.translator.jit.stats[0]
    # One module is the flags helper's (built at start-up), the other holds every block.
    assert stats["functions"] >= 1 + 3 and stats["modules"] == 2


def test_host_rewrites_keep_code_translated():
    """Code rewritten by the host (Machine.mem_write: a loader, a debugger, the differential
    tests) is translated again each time; only the guest rewriting itself past SMC_LIMIT
    leaves an address to the interpreter."""
    m = machine_with("jit", "mov eax, 1\ncli\nhlt")
    for value in range(2, 12):
        m.mem_write(0x1000, bytes([0xB8, value, 0, 0, 0]))          # mov eax, value
        m.reg_write("eip", 0x1000)
        m.run()
        assert m.reg_read("eax") == value
    assert 0x1000 not in m.translator.step_counts
    assert m.translator.cache.stats.translated >= 10


def test_code_rewritten_while_tier_two_compiles_is_not_resurrected():
    """Tier-2 code arrives from the background thread after the run that asked for it; if
    the guest code changed meanwhile, the stale translation must never be installed."""
    m, _ = run_asm("jit", LOOP)
    cache = m.translator.cache
    stale = [b for b in cache.blocks.values() if b.tier == 0 and not cache.tier0[b.index]]   # taken for tier 2
    assert stale                                   # the run ended by sending hot blocks to tier 2
    patched = LOOP.replace("xor eax, 0x55", "xor eax, 0x66")
    m.mem_write(0x1000, assemble(patched))        # same length, one immediate differs
    m.translator.drain()
    assert not any(b.tier == 2 for b in cache.blocks.values())
    for block in stale:                            # its tier-2 code reached no dispatch path
        slot = cache.jump_cache[jump_cache_index(block.phys)]
        assert (slot.tag, slot.fn) != (block.phys + 1, block.fn_address)
    m.reg_write("eip", 0x1000)
    m.run()
    m.translator.drain()
    interp, _ = run_asm("interp", patched)
    assert m.reg_read("eax") == interp.reg_read("eax")


SETTLING_CODE = """
    mov edi, 0
patch:
    mov byte ptr [site + 1], 0x44       ; a store into the code of `site`: its block is dropped
    call site
    inc edi
    cmp edi, 4
    jb patch
    mov edi, 0
settled:
    call site
    inc edi
    cmp edi, 3000
    jb settled
    cli
    hlt
site:
    mov eax, 0x11223344
    add ebx, eax
    ret
"""


def test_code_that_stops_changing_is_translated_again():
    """Code rewritten SMC_LIMIT times is left to the interpreter, but once it has run
    STEP_RETRY times unchanged it is translated again (Linux patches its static keys a few
    times at boot, then runs that code hot); the results stay the interpreter's."""
    from vmm.translator.engine import STEP_RETRY
    from vmm.cache.tcache import block_key
    at = labels(SETTLING_CODE)
    m = machine_with("jit", SETTLING_CODE)
    assert m.run().reason == "halt"
    interp, _ = run_asm("interp", SETTLING_CODE)
    assert m.reg_read("ebx") == interp.reg_read("ebx") and m.state.icount == interp.state.icount
    site = block_key(at["site"], at["site"], 0)
    assert m.translator.step_counts[at["site"]] == STEP_RETRY        # interpreted so often, then no more
    assert site in m.translator.cache.blocks and site not in m.translator.step_sites
    assert m.translator.cache.count(m.translator.cache.blocks[site]) >= 3000 - STEP_RETRY
