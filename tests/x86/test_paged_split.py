"""Paged accesses that cross a page boundary (vmm/x86/mmu.py `_paged`, `_phys_byte_run`) on
every engine, where the two linear pages map to physical pages far apart, so the access is
two pieces: dword loads and stores split 3+1 (at ...ffd) and 1+3 (at ...fff) (a 3-byte
piece raised KeyError 3 before), 2+2, and a word split 1+1.  Unicorn, with the same page
tables, is the oracle for the registers and for both physical pages."""

import struct

from unicorn import Uc, UC_ARCH_X86, UC_MODE_32
from unicorn import x86_const as U

from tests.asmguest import ORIGIN, assemble
from tests.x86.test_paging import ALIAS, ALIAS_PHYS, P, PROLOGUE, RW, run_paged, tables

SECOND_PHYS = 0x170000                   # linear ALIAS + 4 KiB -> here, not ALIAS_PHYS + 4 KiB
MAPPING = (("pte", ALIAS + 0x1000, SECOND_PHYS | P | RW),)
FIRST_END, SECOND = ALIAS_PHYS + 0xFF0, SECOND_PHYS     # the bytes around the boundary
DATA = {FIRST_END: bytes(range(0xA0, 0xB0)), SECOND: bytes(range(0xC0, 0xD0))}
EDGE = ALIAS + 0x1000

BODY = f"""
    mov eax, [{EDGE - 3:#x}]                     ; 3 + 1
    mov ebx, [{EDGE - 1:#x}]                     ; 1 + 3
    mov ecx, [{EDGE - 2:#x}]                     ; 2 + 2
    mov dx, [{EDGE - 1:#x}]                      ; 1 + 1
    mov dword ptr [{EDGE - 3:#x}], 0x55667788    ; 3 + 1
    mov esi, 0x99aabbcc
    mov [{EDGE + 7:#x}], esi                     ; in the second page only
    mov edi, 0xddeeff01
    mov [{EDGE - 1:#x}], edi                     ; 1 + 3 (over the 3 + 1 store's last byte)
    mov ebp, [{EDGE - 3:#x}]                     ; read back across the boundary
"""


def unicorn(body, data=DATA):
    """Unicorn after running `body` on the same page tables and `data`."""
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(0, 2 << 20)
    for addr, blob in {**tables(MAPPING), **data}.items():
        uc.mem_write(addr, blob)
    code = assemble(PROLOGUE + body)
    uc.mem_write(ORIGIN, code)
    uc.reg_write(U.UC_X86_REG_ESP, 0x80000)
    uc.emu_start(ORIGIN, ORIGIN + len(code))
    return uc


def test_split_loads_and_stores_match_unicorn(engine):
    """Each split load gathers its bytes from both physical pages, each split store scatters
    them there (nothing lands in the physical page after the first), as in Unicorn."""
    m, result = run_paged(engine, BODY, MAPPING, data=DATA)
    assert result.reason == "halt", result.message
    uc = unicorn(BODY)
    for name in ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp"):
        assert m.reg_read(name) == uc.reg_read(getattr(U, "UC_X86_REG_" + name.upper())), name
    for base in (ALIAS_PHYS, SECOND_PHYS, ALIAS_PHYS + 0x1000):
        assert m.mem_read(base, 4096) == bytes(uc.mem_read(base, 4096)), hex(base)


def test_split_loads_read_the_expected_bytes(engine):
    """The same loads against bytes worked out by hand: the tail of the first page's frame
    and the head of the second's."""
    m, result = run_paged(engine, BODY, MAPPING, data=DATA)
    assert result.reason == "halt", result.message
    assert m.reg_read("eax") == struct.unpack("<I", bytes([0xAD, 0xAE, 0xAF, 0xC0]))[0]
    assert m.reg_read("ebx") == struct.unpack("<I", bytes([0xAF, 0xC0, 0xC1, 0xC2]))[0]
    assert m.reg_read("ecx") == struct.unpack("<I", bytes([0xAE, 0xAF, 0xC0, 0xC1]))[0]
    assert m.reg_read("edx") & 0xFFFF == 0xC0AF
    # 0x55667788 at EDGE-3 (3 + 1), then 0xddeeff01 at EDGE-1 (1 + 3) over its last two bytes
    assert m.mem_read(ALIAS_PHYS + 0xFFD, 3) == bytes([0x88, 0x77, 0x01])
    assert m.mem_read(SECOND_PHYS, 11) == bytes([0xFF, 0xEE, 0xDD, 0xC3, 0xC4, 0xC5, 0xC6, 0xCC, 0xBB, 0xAA, 0x99])
    assert m.reg_read("ebp") == struct.unpack("<I", bytes([0x88, 0x77, 0x01, 0xFF]))[0]
    assert m.mem_read(ALIAS_PHYS + 0x1000, 4) == bytes(4)            # the adjacent frame untouched


LOOP = f"""
    mov ecx, 3000
    xor esi, esi
    xor edi, edi
again:
    add esi, [{EDGE - 3:#x}]
    add edi, [{EDGE - 1:#x}]
    mov [{EDGE - 1:#x}], ecx
    mov [{EDGE - 1:#x}], edi
    mov [{EDGE - 3:#x}], esi
    mov [{EDGE - 1:#x}], ebx
    loop again
"""


def test_split_access_in_a_loop_runs_translated(engine):
    """A loop of 3+1 and 1+3 split loads and stores run 3000 times (so the jit runs it
    translated, and at tier 2) ends with the sums and bytes Unicorn has."""
    zeros = {FIRST_END: bytes(16), SECOND: bytes(16)}
    m, result = run_paged(engine, LOOP, MAPPING, data=zeros, max_insns=100_000)
    assert result.reason == "halt", result.message
    uc = unicorn(LOOP, zeros)
    assert (m.reg_read("esi"), m.reg_read("edi")) == (uc.reg_read(U.UC_X86_REG_ESI), uc.reg_read(U.UC_X86_REG_EDI))
    assert m.mem_read(ALIAS_PHYS + 0xFF0, 16) == bytes(uc.mem_read(ALIAS_PHYS + 0xFF0, 16))
    assert m.mem_read(SECOND_PHYS, 16) == bytes(uc.mem_read(SECOND_PHYS, 16))
