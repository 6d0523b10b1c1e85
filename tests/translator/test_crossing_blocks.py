"""Blocks whose last instruction crosses into the next page with paging on
(vmm/translator/blocks.py `form_block`, `Plan.phys2`; vmm/cache/tcache.py crossing blocks;
vmm/translator/engine.py `_lookup`): a hot loop through such an instruction runs translated,
not through the monitor; remapping the second page (invlpg of that page alone, or a CR3
switch while the first page is global), or a store into its bytes, runs the new bytes, not
stale code; the translator and the interpreter agree block by block (vmm.lockstep); looking
ahead into a page that is not present leaves CR2 alone (vmm/x86/mmu.py `lookahead`).

The crossing instruction is a `jmp rel32` whose top three displacement bytes are on the
second page, so that page's first byte chooses which of three functions it reaches, and no
other code is decoded on the second page (only the crossing block marks it as code)."""

import struct

import pytest

from tests.asmguest import ORIGIN, assemble, new_machine
from tests.x86.test_paging import ALIAS, ALIAS_PHYS, G, P, PD, PROLOGUE, PT0, PT1, RW, run_paged, tables
from vmm.cache.tcache import Block
from vmm.errors import GuestFault
from vmm.lockstep import lockstep
from vmm.translator.blocks import byte_runs, form_block
from vmm.translator.exits import MISS, STEP
from vmm.x86.exceptions import PF

SECOND_PHYS, OTHER_PHYS = 0x170000, 0x180000        # linear ALIAS + 4 KiB -> one, then the other
PD2, PT1_2 = 0x103000, 0x104000                      # tables mapping ALIAS + 4 KiB -> OTHER_PHYS
FUNC = ALIAS + 0xFFD                                 # inc ebx; jmp TARGET[page 2's first byte]
JMP = FUNC + 1                                       # E9 d0 | d1 d2 d3: crosses at ALIAS + 4 KiB
ENTRY = ALIAS + 0x400                                # jmp FUNC: a direct jump from the same page
TARGETS = {0xF0: (ALIAS + 0x100, 1), 0xF1: (ALIAS + 0x200, 2), 0xF2: (ALIAS + 0x300, 3)}
JIT_VARIANTS = ("jit", "jit-tier2")


def second_page(selector):
    """The three displacement bytes on the second page that make the jump reach the
    function `selector` names (rel32 = target - end of the jmp)."""
    target, _ = TARGETS[selector]
    rel = struct.pack("<i", target - (JMP + 5))
    assert rel[1] == selector
    return rel[1:]


def machine(engine, body, count, global_first=False, **options):
    """Paging on; FUNC, ENTRY and the functions at the end and start of linear page ALIAS; the
    second page -> SECOND_PHYS (selector 0xF0: returns 1) in PD's tables, -> OTHER_PHYS
    (0xF1: returns 2) in PD2's.  The guest calls FUNC (through ENTRY) `count` times summing
    EAX into ESI, then runs `body`.  `global_first`: CR4.PGE on and ALIAS's page global."""
    m = new_machine(engine, **options)
    first = ALIAS_PHYS | P | RW | (G if global_first else 0)
    image = tables((("pte", ALIAS, first), ("pte", ALIAS + 0x1000, SECOND_PHYS | P | RW)))
    image[PD2] = struct.pack("<II", PT0 | P | RW, PT1_2 | P | RW)
    image[PT1_2] = struct.pack("<II", first, OTHER_PHYS | P | RW)
    for addr, blob in image.items():
        m.mem_write(addr, blob)
    for target, value in TARGETS.values():
        m.mem_write(ALIAS_PHYS + (target & 0xFFF), assemble(f"mov eax, {value}\nret", target))
    m.mem_write(ALIAS_PHYS + (ENTRY & 0xFFF), assemble(f"jmp {FUNC:#x}", ENTRY))
    code = assemble(f"inc ebx\njmp {TARGETS[0xF0][0]:#x}", FUNC)
    m.mem_write(ALIAS_PHYS + (FUNC & 0xFFF), code[:3])
    assert code[3:] == second_page(0xF0)
    m.mem_write(SECOND_PHYS, second_page(0xF0))
    m.mem_write(OTHER_PHYS, second_page(0xF1))
    pge = "mov eax, cr4\nor eax, 0x80\nmov cr4, eax\n" if global_first else ""
    m.mem_write(ORIGIN, assemble(pge + PROLOGUE + calls(count, "esi") + body + "\ncli\nhlt\n"))
    m.reg_write("eip", ORIGIN)
    m.reg_write("esp", 0x80000)
    return m


def calls(count, into, label="again"):
    """Guest code: call FUNC (through ENTRY) `count` times, summing what it returns into `into`."""
    return f"""
        mov ecx, {count}
        xor {into}, {into}
    {label}:
        call {ENTRY:#x}
        add {into}, eax
        loop {label}
    """


def crossing_block(m):
    """The translated block at FUNC, which must hold the crossing jmp as its last instruction."""
    blocks = [b for b in m.translator.cache.blocks.values() if b.eip == FUNC]
    assert len(blocks) == 1
    assert blocks[0].insns[-1].address == JMP and blocks[0].phys2 is not None
    return blocks[0]


def test_form_block_ends_after_the_crossing_instruction():
    """form_block keeps the crossing jmp as the block's last instruction, with the next
    page's frame (`Plan.phys2`): the block's bytes and code granules are in both frames.
    Where a fetch from the next page would fault, the block ends before the jmp."""
    m = machine("jit", "", 1)
    frames = {ALIAS + 0x1000: SECOND_PHYS}

    def next_frame(linear):
        if linear not in frames:
            raise GuestFault(PF, 0)
        return frames[linear]

    plan = form_block(m.decoder, FUNC, ALIAS_PHYS + 0xFFD, next_frame=next_frame)
    assert [insn.address for insn in plan.insns] == [FUNC, JMP]
    assert (plan.fallthrough, plan.phys2) == (JMP + 5, SECOND_PHYS)
    assert byte_runs(plan) == [(ALIAS_PHYS + 0xFFD, 3), (SECOND_PHYS, 3)]
    block = Block(plan.phys, plan.insns, plan.fallthrough, 0, "b", eip=FUNC, phys2=plan.phys2)
    assert block.granules == [(ALIAS_PHYS + 0xFC0) >> 6, SECOND_PHYS >> 6]
    del frames[ALIAS + 0x1000]
    plan = form_block(m.decoder, FUNC, ALIAS_PHYS + 0xFFD, next_frame=next_frame)
    assert [insn.address for insn in plan.insns] == [FUNC]
    assert (plan.fallthrough, plan.phys2) == (JMP, None)


def monitor_exits(m):
    return m.translator.exits[MISS] + m.translator.exits[STEP]


@pytest.mark.parametrize("variant", JIT_VARIANTS)
def test_hot_loop_through_a_crossing_instruction_runs_translated(variant):
    """The block at FUNC holds the crossing jmp (phys2 = the second page's frame) and runs
    once per call; the monitor never runs the jmp, and returns to Python as often for 3000
    calls as for 1000 (it was once per call)."""
    exits = {}
    for count in (1000, 3000):
        m = machine(variant, "", count)
        result = m.run(max_insns=100_000)
        assert result.reason == "halt", result.message
        assert (m.reg_read("esi"), m.reg_read("ebx")) == (count, count)
        block = crossing_block(m)
        assert block.phys2 == SECOND_PHYS
        assert m.translator.cache.count(block) >= count - m.jit_threshold
        assert JMP not in m.translator.step_counts
        exits[count] = monitor_exits(m)
    assert exits[3000] == exits[1000]


def test_remapped_second_page_after_invlpg_of_it_alone(engine):
    """The second page's PTE now names OTHER_PHYS, and only that page is invalidated: the
    hot crossing block (its first page unchanged) is dropped at its next miss and the jump
    goes where the new bytes say."""
    m = machine(engine, f"""
        mov dword ptr [{PT1 + 4:#x}], {OTHER_PHYS | P | RW:#x}
        invlpg [{ALIAS + 0x1000:#x}]
    """ + calls(500, "edi", "again2"), 500)
    result = m.run(max_insns=100_000)
    assert result.reason == "halt", result.message
    assert (m.reg_read("esi"), m.reg_read("edi")) == (500, 1000)
    if engine != "interp":
        assert m.translator.cache.stats.remapped == 1
        assert crossing_block(m).phys2 == OTHER_PHYS


def test_cr3_switch_with_a_global_first_page(engine):
    """CR4.PGE, the first page global (its TLB and jump-cache entries survive a CR3 load)
    and the second not: after switching to tables that map the second page elsewhere, the
    crossing jmp reads the new frame's bytes."""
    m = machine(engine, f"""
        mov eax, {PD2:#x}
        mov cr3, eax
    """ + calls(500, "edi", "again2"), 500, global_first=True)
    result = m.run(max_insns=100_000)
    assert result.reason == "halt", result.message
    assert (m.reg_read("esi"), m.reg_read("edi")) == (500, 1000)
    if engine != "interp":
        assert crossing_block(m).phys2 == OTHER_PHYS


def test_store_into_the_second_page_bytes(engine):
    """Halfway through a hot loop of calls (every block translated at its first run), a
    store rewrites the displacement byte on the second page: the rest of the calls reach the
    third function."""
    m = machine(engine, f"""
        mov ecx, 1000
        xor edi, edi
    again2:
        cmp ecx, 500
        jne skip
        mov byte ptr [{ALIAS + 0x1000:#x}], 0xf2
    skip:
        call {ENTRY:#x}
        add edi, eax
        loop again2
    """, 500, jit_threshold=1)
    result = m.run(max_insns=100_000)
    assert result.reason == "halt", result.message
    assert (m.reg_read("esi"), m.reg_read("edi")) == (500, 500 * 1 + 500 * 3)
    if engine != "interp":
        assert m.translator.cache.stats.granule_invalidations >= 1
        assert crossing_block(m).phys2 == SECOND_PHYS


@pytest.mark.parametrize("threshold", (1, 16))
def test_lockstep_with_remaps_and_stores(threshold):
    """The translator and the interpreter agree after every block through an invlpg remap
    of the second page, a CR3 reload with the first page global after the PTE is put back,
    and a store into the second page's bytes, one after the other."""
    body = f"""
        mov dword ptr [{PT1 + 4:#x}], {OTHER_PHYS | P | RW:#x}
        invlpg [{ALIAS + 0x1000:#x}]
    """ + calls(100, "edi", "again2") + f"""
        mov dword ptr [{PT1 + 4:#x}], {SECOND_PHYS | P | RW:#x}
        mov eax, {PD:#x}
        mov cr3, eax
    """ + calls(100, "edx", "again3") + f"""
        mov byte ptr [{ALIAS + 0x1000:#x}], 0xf2
    """ + calls(100, "ebp", "again4")
    jit = machine("jit", body, 100, global_first=True, jit_threshold=threshold)
    report = lockstep(jit, machine("interp", body, 100, global_first=True))
    assert not report.divergence, report.describe()
    assert report.reason.startswith("halt")
    assert [jit.reg_read(r) for r in ("esi", "edi", "edx", "ebp")] == [100, 200, 100, 300]
    assert jit.translator.cache.stats.remapped >= 2
    assert jit.translator.cache.count(crossing_block(jit)) >= 100 - threshold


def test_looking_ahead_into_an_unmapped_page_leaves_cr2(engine):
    """With every block translated at its first run, the not-taken side of a jnz (a `mov`
    crossing into a page that is not present) is planned too: the translator walks to that
    page and finds no mapping, but the guest took no #PF, so CR2 keeps what it held
    (Mmu.lookahead; the block there is left to the interpreter)."""
    skip, func = ALIAS + 0xF80, ALIAS + 0xFFA        # test ecx, ecx; jnz skip; | mov eax, imm32 crossing
    code = {ALIAS_PHYS + (skip & 0xFFF): assemble("ret", skip),
            ALIAS_PHYS + (func & 0xFFF): assemble(f"test ecx, ecx\njnz {skip:#x}", func) + b"\xb8\x44"}
    m, result = run_paged(engine, f"""
        mov eax, 0x1234
        mov cr2, eax
        mov ecx, 5
        call {func:#x}
        mov eax, cr2
    """, data=code, max_insns=1000, jit_threshold=1)       # ALIAS + 4 KiB is not present
    assert result.reason == "halt", result.message
    assert m.reg_read("eax") == 0x1234
