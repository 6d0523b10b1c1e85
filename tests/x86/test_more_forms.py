"""Implemented forms no other test reached, on every engine: int3 and into through the IDT,
invlpg/wbinvd/invd, clts and mov from CR0, wrmsr, sidt, ins*, a far jmp, pop into a segment
register, jcxz and 16-bit popf (against Unicorn), and a store straddling two code granules
(both must drop their translations)."""

import struct

import pytest
from hypothesis import given, settings, strategies as st

from tests.asmguest import ORIGIN, assemble, machine_with, run_asm

from .differential import ARITH_FLAGS, check
from .test_system import GDT_DATA, GDT_SETUP, _idt_machine


def _with_gate(engine, body, vectors):
    """_idt_machine with `vectors` also routed to handler_80 (sets EDX = 0x80, returns)."""
    m, labels = _idt_machine(engine, body)
    offset = labels["handler_80"]
    gate = (offset & 0xFFFF) | (0x08 << 16) | (0x8E00 << 32) | ((offset >> 16) << 48)
    for vector in vectors:
        m.mem_write(labels["idt"] + vector * 8, struct.pack("<Q", gate))
    return m


def test_int3_goes_through_the_idt(engine):
    m = _with_gate(engine, "int3\nmov eax, 3", [3])
    assert m.run(max_insns=10_000).reason == "halt"
    assert m.reg_read("edx") == 0x80 and m.reg_read("eax") == 3        # and returned after it


@pytest.mark.parametrize("overflow", [False, True])
def test_into_traps_only_on_overflow(engine, overflow):
    setup = "mov eax, 0x7fffffff\nadd eax, 1" if overflow else "xor eax, eax"
    m = _with_gate(engine, f"xor edx, edx\n{setup}\ninto\nmov ebx, 4", [4])
    assert m.run(max_insns=10_000).reason == "halt"
    assert m.reg_read("edx") == (0x80 if overflow else 0) and m.reg_read("ebx") == 4


def test_cache_and_tlb_maintenance_retire_as_no_ops(engine):
    m, result = run_asm(engine, "mov eax, 0x2000\ninvlpg [eax]\nwbinvd\ninvd\nmov ebx, 5\ncli\nhlt")
    assert result.reason == "halt" and m.reg_read("ebx") == 5 and result.instructions == 7


def test_clts_clears_cr0_ts_and_mov_from_cr0_reads_it(engine):
    m, result = run_asm(engine, "mov eax, cr0\nor eax, 8\nmov cr0, eax\nmov ebx, cr0\nclts\nmov ecx, cr0\ncli\nhlt")
    assert result.reason == "halt"
    assert m.reg_read("ebx") & 8 and not m.reg_read("ecx") & 8 and m.reg_read("ecx") == m.reg_read("ebx") & ~8


def test_wrmsr_then_rdmsr(engine):
    m, result = run_asm(engine, "mov ecx, 0x176\nmov eax, 0x12345678\nxor edx, edx\nwrmsr\n"
                                "xor eax, eax\nrdmsr\ncli\nhlt")
    assert result.reason == "halt" and m.reg_read("eax") == 0x12345678


def test_sidt_shows_the_guest_idtr(engine):
    m, _ = run_asm(engine, "lidt [g]\nsidt [0x3000]\ncli\nhlt\ng: .word 0x7ff\n.long 0x5000")
    assert m.mem_read(0x3000, 6) == struct.pack("<HI", 0x7FF, 0x5000)


@pytest.mark.parametrize("form, size", [("insb", 1), ("insw", 2), ("insd", 4)])
def test_rep_ins_stores_what_the_port_gives(engine, form, size):
    values = iter(range(1, 100))
    m = machine_with(engine, f"mov edi, 0x3000\nmov ecx, 3\nmov dx, 0x530\ncld\nrep {form}\ncli\nhlt")
    m.hook_port(0x530, read=lambda port, width: next(values) * 0x01010101)
    assert m.run().reason == "halt"
    mask = (1 << (8 * size)) - 1
    expected = b"".join((n * 0x01010101 & mask).to_bytes(size, "little") for n in (1, 2, 3))
    assert m.mem_read(0x3000, 3 * size) == expected
    assert m.reg_read("ecx") == 0 and m.reg_read("edi") == 0x3000 + 3 * size


def test_far_jmp_reloads_cs(engine):
    # ljmp 0x08:target, spelled as bytes (ea imm32 imm16).
    m, result = run_asm(engine, GDT_SETUP + "far_ok:\n.byte 0xea\n.long target\n.word 0x08\nmov eax, 1\n"
                                           "target:\nmov ebx, 2\ncli\nhlt\n" + GDT_DATA)
    assert result.reason == "halt" and m.reg_read("ebx") == 2 and m.reg_read("eax") != 1
    assert m.state.seg[1].selector == 0x08


@pytest.mark.parametrize("push, pop", [("push eax", ".byte 0x1f"), ("push ax", "pop ds")], ids=["32", "16"])
def test_pop_into_a_segment_register(engine, push, pop):
    # Keystone spells `pop ds` with 0x66 (a 16-bit pop); 1f alone pops 32 bits.
    m, result = run_asm(engine, GDT_SETUP + f"far_ok:\nmov eax, 0x10\n{push}\n{pop}\ncli\nhlt\n" + GDT_DATA)
    assert result.reason == "halt" and m.state.seg[3].selector == 0x10 and m.reg_read("esp") == 0x80000


@pytest.mark.parametrize("asm", ["jcxz t\nmov eax, 1\nt: nop", "push ax\npopf"])      # popf here is 66 9d
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_jcxz_and_16_bit_popf_match_unicorn(engine, asm, data):
    check(engine, asm, data, regs={"ecx": st.sampled_from([0, 1, 0x10000, 0xFFFF0000, 0xFFFFFFFF]),
                                   "eax": ARITH_FLAGS})


def test_a_store_straddling_two_code_granules_drops_both(engine):
    # func: `mov bl, 0x11 / jmp b` in the granule ending at 0x1040, `b: mov cl, 0x11 / ret` in
    # the next.  The dword store at 0x103d rewrites bl's immediate (first granule) and turns
    # `mov cl` into `mov dl` (second granule): both blocks must be retranslated.
    func = ORIGIN + 0x3C
    main = assemble(f"call {func:#x}\nmov esi, ebx\nmov edi, ecx\nmov dword ptr [{func + 1:#x}], 0xb200eb22\n"
                    f"xor ebx, ebx\nxor ecx, ecx\nxor edx, edx\ncall {func:#x}\ncli\nhlt")
    code = main + b"\x90" * (0x3C - len(main)) + bytes.fromhex("b311" "eb00" "b111" "c3")
    m = machine_with(engine, "nop")
    m.mem_write(ORIGIN, code)
    assert (func + 1) >> 6 != (func + 4) >> 6                           # it does straddle
    assert m.run(max_insns=1000).reason == "halt"
    assert (m.reg_read("esi") & 0xFF, m.reg_read("edi") & 0xFF) == (0x11, 0x11)     # first call
    assert (m.reg_read("bl"), m.reg_read("cl"), m.reg_read("dl")) == (0x22, 0, 0x11)  # rewritten code


def test_a_store_from_data_into_the_next_granules_code_drops_it(engine):
    # The dword store at func - 2 starts in a granule with no code and ends in func's: the
    # translator must check the granule of the store's last byte too.
    func = ORIGIN + 0x80
    main = assemble(f"call {func:#x}\nmov edi, ecx\nmov dword ptr [{func - 2:#x}], 0x33b10000\n"
                    f"call {func:#x}\ncli\nhlt")
    code = main + bytes(0x80 - len(main)) + bytes.fromhex("b111" "c3")
    m = machine_with(engine, "nop")
    m.mem_write(ORIGIN, code)
    assert m.run(max_insns=1000).reason == "halt"
    assert (m.reg_read("edi"), m.reg_read("cl")) == (0x11, 0x33)


def test_a_store_beside_code_but_not_into_it_keeps_the_translation(engine):
    # The granule before func's is marked as having code next to it (vmm.memory.CODE_NEXT);
    # a dword store that ends before func takes the exact test and must not drop func.
    func = ORIGIN + 0x80
    main = assemble(f"call {func:#x}\nmov dword ptr [{func - 4:#x}], 0x12345678\ncall {func:#x}\ncli\nhlt")
    m = machine_with(engine, "nop")
    m.mem_write(ORIGIN, main + bytes(0x80 - len(main)) + bytes.fromhex("b111" "c3"))
    assert m.memory.code_map[(func >> 6) - 1] == 0               # nothing marked before the run
    assert m.run(max_insns=1000).reason == "halt"
    assert m.mem_read(func - 4, 4) == bytes.fromhex("78563412") and m.reg_read("cl") == 0x11
    assert m.memory.code_map[(func >> 6) - 1] & 2                 # func's granule is still code
    if m.translator is not None:
        assert m.translator.cache.stats.invalidated == 0
