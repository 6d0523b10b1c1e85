"""lar, lsl, verr and verw on random descriptors, against Unicorn (ring 0), on every engine;
ring-3 visibility rules and the LDT against the SDM."""

import functools
import struct

from hypothesis import given, settings, strategies as st
from unicorn import Uc, UC_ARCH_X86, UC_MODE_32
from unicorn import x86_const as U

from tests.asmguest import ORIGIN, assemble, new_machine
from tests.x86.ringguest import STANDARD_GDT, descriptor, registers, ring_machine

GDT = 0x10000
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


def _unicorn(raw, selector):
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(0, 0x100000)
    code = assemble(PROBE)
    uc.mem_write(ORIGIN, code)
    uc.mem_write(GDT, _table(raw))
    uc.reg_write(U.UC_X86_REG_GDTR, (0, GDT, 0x37, 0))
    uc.reg_write(U.UC_X86_REG_ESP, 0x8000)
    uc.reg_write(U.UC_X86_REG_ECX, selector)
    uc.reg_write(U.UC_X86_REG_EFLAGS, 0x2)
    uc.emu_start(ORIGIN, ORIGIN + len(code))
    return {name: uc.reg_read(getattr(U, f"UC_X86_REG_{name.upper()}")) for name in RESULTS}


@functools.lru_cache(maxsize=None)
def _machine(engine):
    m = new_machine(engine, memory_mb=1)
    m.mem_write(ORIGIN, assemble(PROBE + "\ncli\nhlt"))
    return m


def _vmm(engine, raw, selector):
    m = _machine(engine)
    m.mem_write(GDT, _table(raw))
    m.state.gdtr.base, m.state.gdtr.limit = GDT, 0x37
    for name in ("eax", "ebx", "edx", "esi", "edi", "ebp"):
        m.reg_write(name, 0)
    m.reg_write("ecx", selector)
    m.reg_write("esp", 0x8000)
    m.reg_write("eflags", 0x2)
    m.reg_write("eip", ORIGIN)
    result = m.run(max_insns=100)
    assert result.reason == "halt", result.message
    return {name: m.reg_read(name) for name in RESULTS}


ACCESS = st.integers(0, 255)
SELECTOR = st.one_of(st.integers(0x30, 0x33), st.sampled_from([0, 3, 0x08, 0x13, 0x28, 0x38, 0x3C, 0x34]))


@settings(max_examples=60, deadline=None)
@given(access=ACCESS, flags=st.integers(0, 15), limit=st.integers(0, 0xFFFFF), base=st.integers(0, 0xFFFFFFFF),
       selector=SELECTOR)
def test_probes_match_unicorn(engine, access, flags, limit, base, selector):
    raw = descriptor(base, limit << 12 if flags & 8 else limit, access, flags)
    assert _vmm(engine, raw, selector) == _unicorn(raw, selector), f"descriptor {raw:#018x} selector {selector:#x}"


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
