"""Tier-2 self-loops: a hot block that jumps back to itself runs as a native loop with the
guest state it writes kept in host registers, stored only when the loop is left.  Every way
out (loop end, budget expiry, a fault, a store into code) must leave the state exactly as the
interpreter does."""

from vmm.lockstep import snapshot

from tests.asmguest import machine_with

# One block: adc reads the carry the previous pass left (flags carried round the loop).
CARRY_LOOP = """
    mov ecx, 30000
    mov eax, 0x80000000
    xor edx, edx
    mov esi, 0x2000
top:
    adc edx, eax
    add eax, 0x3fffffff
    mov dword ptr [esi], edx
    rol eax, 3
    dec ecx
    jnz top
    cli
    hlt
"""


def _run_both(src, *budgets, memory_mb=2):
    """The same guest on both engines with the same sequence of run budgets."""
    out = []
    for engine in ("jit", "interp"):
        m = machine_with(engine, src, memory_mb=memory_mb)
        results = []
        for budget in budgets:
            results.append(m.run(max_insns=budget))
            if m.translator is not None:
                m.translator.drain()         # tier-2 code in place before the next run
        out.append((m, results[-1]))
    return out


def _assert_tier2_loop(m, address):
    block = m.translator.cache.blocks[address]
    assert block.tier == 2 and m.translator.stats()["loop_blocks"] >= 1


def test_carried_flags_and_registers_match_interpreter():
    # Tier-up happens when a run returns: the first run makes `top` hot, the second runs
    # the rest of the loop at tier 2.
    (jit, jr), (interp, ir) = _run_both(CARRY_LOOP, 20_000, 1_000_000)
    assert jr.reason == ir.reason == "halt"
    _assert_tier2_loop(jit, 0x1000 + 5 + 5 + 2 + 5)
    assert snapshot(jit) == snapshot(interp)
    assert jit.mem_read(0x2000, 4) == interp.mem_read(0x2000, 4)


def test_budget_expiring_inside_the_loop_is_exact():
    # The first run makes `top` hot (tier 2 at its end); the second runs out of budget in the
    # loop.  The loop checks at each pass that a whole pass fits the budget, leaves when it
    # does not, and the monitor interprets the last instructions: the count is exact and the
    # jit stops mid-pass (12_347 is not a multiple of the 6-instruction pass).
    jit = machine_with("jit", CARRY_LOOP)
    assert jit.run(max_insns=20_000).reason == "limit"
    jit.translator.drain()
    assert jit.run(max_insns=12_347).reason == "limit"
    _assert_tier2_loop(jit, 0x1000 + 5 + 5 + 2 + 5)
    assert jit.state.icount == 32_347 and 0 < jit.reg_read("ecx") < 30000
    assert jit.reg_read("eip") != 0x1000 + 5 + 5 + 2 + 5
    interp = machine_with("interp", CARRY_LOOP)
    interp.run(max_insns=32_347)
    assert snapshot(jit) == snapshot(interp)
    more = [m.run(max_insns=1_000_000) for m in (jit, interp)]     # and it resumes exactly
    assert more[0].reason == more[1].reason == "halt" and snapshot(jit) == snapshot(interp)


DIVIDE_LOOP = """
    mov esi, 30000
    xor edi, edi
top:
    mov eax, 1000000
    xor edx, edx
    add edi, 3
    div esi                 ; #DE when esi reaches 0: no IDT, so the run stops there
    add edi, eax
    dec esi
    jmp top
"""


def test_fault_in_a_later_pass_is_precise():
    (jit, jr), (interp, ir) = _run_both(DIVIDE_LOOP, 100_000, 1_000_000)
    assert jr.reason == ir.reason == "error" and jr.fault == ir.fault == 0
    _assert_tier2_loop(jit, 0x1000 + 5 + 2)
    assert snapshot(jit) == snapshot(interp)
    assert jit.reg_read("esi") == 0


# Stores walk down towards the loop's own 64-byte code granule; the last four land in it
# (after the code, so the loop keeps running) and each leaves translated code.
SMC_LOOP = """
    mov ecx, 6000
    mov esi, 0x1030 + 4 * 5999
top:
    mov dword ptr [esi], ecx
    sub esi, 4
    dec ecx
    jnz top
    cli
    hlt
"""


def test_store_into_code_leaves_the_loop_precisely():
    (jit, jr), (interp, ir) = _run_both(SMC_LOOP, 20_000, 1_000_000)
    assert jr.reason == ir.reason == "halt"
    assert jit.translator.stats()["loop_blocks"] >= 1 and jit.translator.cache.stats.invalidated >= 1
    assert snapshot(jit) == snapshot(interp)
    assert jit.mem_read(0x1000, 0x6000) == interp.mem_read(0x1000, 0x6000)
