"""Descriptor checks on random descriptors against Unicorn (ring 0), on every engine: lar, lsl,
verr, verw, and segment register loads (fault vector, base used, accessed bit); ring-3
visibility rules and the LDT against the SDM."""

import functools
import struct

import pytest
from hypothesis import given, settings, strategies as st
from unicorn import Uc, UC_ARCH_X86, UC_HOOK_INTR, UC_MODE_32
from unicorn import x86_const as U

from tests.asmguest import ORIGIN, assemble, new_machine
from tests.x86.ringguest import STANDARD_GDT, descriptor, registers, ring_machine
from vmm.x86.segments import set_flat_segments

GDT, DATA = 0x10000, 0x20000
DATA_BYTES = bytes(range(256)) * 0x50                    # a dword read tells bases DATA + 4n apart
PROBE = """
    mov eax, 0xdead
    lar eax, ecx
    pushfd
    pop esi
    mov ebx, 0xbeef
    lsl ebx, ecx
    pushfd
    pop edi
    verr cx
    pushfd
    pop edx
    verw cx
    pushfd
    pop ebp
"""
RESULTS = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp")
ZF = 0x40


def _table(raw):
    """The standard GDT with the descriptor under test at 0x30, limit 0x37."""
    entries = {**STANDARD_GDT, 0x30: raw}
    return b"".join(struct.pack("<Q", entries.get(n * 8, 0)) for n in range(7))


def _unicorn(raw, selector, code=PROBE):
    """(registers, fault vector or None, the GDT afterwards) of `code` on Unicorn."""
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(0, 0x100000)
    binary = assemble(code)
    uc.mem_write(ORIGIN, binary)
    uc.mem_write(GDT, _table(raw))
    uc.mem_write(DATA, DATA_BYTES)
    uc.reg_write(U.UC_X86_REG_GDTR, (0, GDT, 0x37, 0))
    uc.reg_write(U.UC_X86_REG_ESP, 0x8000)
    uc.reg_write(U.UC_X86_REG_ECX, selector)
    uc.reg_write(U.UC_X86_REG_EFLAGS, 0x2)
    fault = []
    uc.hook_add(UC_HOOK_INTR, lambda uc, vector, user: (fault.append(vector), uc.emu_stop()))
    uc.emu_start(ORIGIN, ORIGIN + len(binary))
    regs = {name: uc.reg_read(getattr(U, f"UC_X86_REG_{name.upper()}")) for name in RESULTS}
    return regs, fault[0] if fault else None, bytes(uc.mem_read(GDT, 0x38))


@functools.lru_cache(maxsize=None)
def _machine(engine, code):
    m = new_machine(engine, memory_mb=1)
    m.mem_write(ORIGIN, assemble(code + "\ncli\nhlt"))
    return m


def _vmm(engine, raw, selector, code=PROBE):
    m = _machine(engine, code)
    m.mem_write(GDT, _table(raw))
    m.mem_write(DATA, DATA_BYTES)
    set_flat_segments(m.state)
    m.state.gdtr.base, m.state.gdtr.limit = GDT, 0x37
    for name in ("eax", "ebx", "edx", "esi", "edi", "ebp"):
        m.reg_write(name, 0)
    m.reg_write("ecx", selector)
    m.reg_write("esp", 0x8000)
    m.reg_write("eflags", 0x2)
    m.reg_write("eip", ORIGIN)
    result = m.run(max_insns=100)
    assert result.reason in ("halt", "error"), result.message
    return {name: m.reg_read(name) for name in RESULTS}, result.fault, m.mem_read(GDT, 0x38)


ACCESS = st.one_of(st.integers(0, 255), st.integers(0, 255).map(lambda a: a | 0x90))    # any, or present code/data
SELECTOR = st.one_of(st.integers(0x30, 0x33), st.sampled_from([0, 3, 0x08, 0x10, 0x13, 0x28, 0x38, 0x3C, 0x34]))


@settings(max_examples=60, deadline=None)
@given(access=ACCESS, flags=st.integers(0, 15), limit=st.integers(0, 0xFFFFF), base=st.integers(0, 0xFFFFFFFF),
       selector=SELECTOR)
def test_probes_match_unicorn(engine, access, flags, limit, base, selector):
    raw = descriptor(base, limit << 12 if flags & 8 else limit, access, flags)
    assert _vmm(engine, raw, selector) == _unicorn(raw, selector), f"descriptor {raw:#018x} selector {selector:#x}"


LOADS = {seg: f"mov eax, 0xdead\nmov {seg}, cx\nmov eax, dword ptr {seg}:[0x10]" for seg in ("ds", "ss", "fs")}


@pytest.mark.parametrize("seg", LOADS)
@settings(max_examples=60, deadline=None)
@given(access=ACCESS, flags=st.integers(0, 15), base=st.integers(0, 0x3F).map(lambda n: DATA + n * 0x104),
       selector=SELECTOR)
def test_segment_loads_match_unicorn(engine, seg, access, flags, base, selector):
    """The fault (#GP, #NP, #SS or none), the base the next access uses, the accessed bit.
    Unicorn (QEMU) does not check accesses against the segment loaded: where the SDM
    refuses the read after a load Unicorn allows (a null selector, an expand-down segment,
    whose valid offsets start above its limit), vmm must fault on it instead."""
    raw = descriptor(base, 0xFFFFF << 12 if flags & 8 else 0xFFFFF, access, flags)
    ours, oracle = _vmm(engine, raw, selector, LOADS[seg]), _unicorn(raw, selector, LOADS[seg])
    regs, fault, gdt = oracle
    loaded = {**STANDARD_GDT, 0x30: raw}.get(selector & ~7, 0) >> 40
    expand_down = loaded & 0x1C == 0x14                  # data (S set, code clear) with E
    if fault is None and (selector & 0xFFFC == 0 or expand_down):
        oracle = {**regs, "eax": 0xDEAD}, 12 if seg == "ss" else 13, gdt
    assert ours == oracle, f"descriptor {raw:#018x} selector {selector:#x}"


def test_ring3_sees_only_ring3_segments_and_conforming_code(engine):
    user = """
    mov ecx, 0x08                 ; ring-0 code: invisible to lar from ring 3
    mov ebx, 0xdead
    lar ebx, ecx
    mov ecx, 0x3b                 ; conforming ring-0 code: visible
    lsl edi, ecx
    mov ecx, 0x23                 ; ring-3 data: writable
    verw cx
    pushfd
    pop esi
    mov ecx, 0x10
    verr cx                       ; ring-0 data: not readable from ring 3
    pushfd
    pop ebp
"""
    m = ring_machine(engine, user=user, gdt={0x38: descriptor(0, 0xFFFFF, 0x9E, flags=0)})
    assert m.run(max_insns=10_000).reason == "halt"
    r = registers(m)
    assert r["ebx"] == 0xDEAD and r["edi"] == 0xFFFFF and r["esi"] & ZF and not r["ebp"] & ZF


def test_ldt_selectors_load_from_the_ldt(engine):
    ldt_base = 0x13000
    kernel = """
    mov ax, 0x38
    lldt ax
    sldt ecx
    mov [0x20100], ecx
"""
    user = "mov ax, 0x0f\nmov fs, ax\nmov ebx, fs\nmov edi, dword ptr fs:[0]\nmov ax, 0x17\nfault:\nmov gs, ax"
    m = ring_machine(engine, user=user, kernel=kernel, gdt={0x38: descriptor(ldt_base, 0xF, 0x82, flags=0)})
    m.mem_write(ldt_base, struct.pack("<QQ", 0, descriptor(0x14000, 0xFFF, 0xF2, flags=0)))   # LDT[1]; LDT limit 0xF
    m.mem_write(0x14000, struct.pack("<I", 0xC0FFEE))
    assert m.run(max_insns=10_000).reason == "halt"
    r = registers(m)
    assert struct.unpack("<I", m.mem_read(0x20100, 4))[0] == 0x38
    assert (r["ebx"], r["edi"]) == (0x0F, 0xC0FFEE)
    assert struct.unpack("<2I", m.mem_read(0x20000, 8)) == (0x14, m.labels["fault"])    # LDT[2]: past its limit
