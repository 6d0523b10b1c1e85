"""Debug registers (vmm/x86/callouts.py mov_to_dr / mov_from_dr, CpuState.dr) on every
engine: values written read back, DR6 and DR7 read with their always-one bits (0xFFFF0FF0
and 0x400) set, DR4/DR5 alias DR6/DR7 (CR4.DE is clear: this CPU has no DE), and the moves
are privileged (#GP(0) from ring 3).  Unicorn (QEMU's model) is the oracle for the ring-0
values; breakpoints are not armed in either."""

import pytest
from unicorn import Uc, UC_ARCH_X86, UC_MODE_32
from unicorn import x86_const as U

from tests.asmguest import ORIGIN, assemble, run_asm
from tests.x86.ringguest import UCODE, frame, registers, ring_machine

REGS = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp")

# Writes to every register, then reads each back (DR4/DR5 read after DR6/DR7 were written
# through their aliases, so the alias works both ways).
READBACK = """
    mov eax, 0x12345678
    mov dr0, eax
    mov eax, 0xdeadbeef
    mov dr1, eax
    mov eax, 0x00400000
    mov dr2, eax
    mov eax, 0xfffffffc
    mov dr3, eax
    mov eax, 0x4001
    mov dr4, eax
    mov eax, 0x00000301
    mov dr5, eax
    mov ebx, dr0
    mov ecx, dr1
    mov edx, dr2
    mov esi, dr3
    mov edi, dr6
    mov ebp, dr7
    mov eax, dr4
    mov [0x7000], eax
    mov eax, dr5
    mov [0x7004], eax
    xor eax, eax
    mov dr6, eax
    mov dr7, eax
    mov eax, dr6
    mov [0x7008], eax
    mov eax, dr7
    mov [0x700c], eax
    mov eax, dr0
"""


def unicorn_run(src):
    code = assemble(src)
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(0, 2 << 20)
    uc.mem_write(ORIGIN, code)
    uc.reg_write(U.UC_X86_REG_ESP, 0x80000)
    uc.emu_start(ORIGIN, ORIGIN + len(code))
    return uc


def test_ring0_readback_matches_unicorn(engine):
    """Every DRn reads back what was written, DR6/DR7 with their fixed ones, DR4/DR5 as
    DR6/DR7, and a zero written to DR6/DR7 reads as 0xFFFF0FF0/0x400: as in Unicorn."""
    m, result = run_asm(engine, READBACK + "\ncli\nhlt")
    assert result.reason == "halt", result.message
    uc = unicorn_run(READBACK)
    ours = {name: m.reg_read(name) for name in REGS}
    theirs = {name: uc.reg_read(getattr(U, "UC_X86_REG_" + name.upper())) for name in REGS}
    assert ours == theirs
    assert m.mem_read(0x7000, 16) == bytes(uc.mem_read(0x7000, 16))
    assert (ours["ebx"], ours["ecx"], ours["edx"], ours["esi"]) == (0x12345678, 0xDEADBEEF, 0x00400000, 0xFFFFFFFC)
    assert (ours["edi"], ours["ebp"]) == (0xFFFF4FF1, 0x701)
    assert m.mem_read(0x7000, 16).hex() == "f14fffff01070000f00fffff00040000"


def test_fresh_dr6_dr7_read_their_reset_values(engine):
    """Before any write DR6 reads 0xFFFF0FF0 and DR7 0x400 (their values after reset), and
    DR0 reads 0."""
    m, result = run_asm(engine, "mov eax, dr6\nmov ebx, dr7\nmov ecx, dr0\nmov edx, dr5\ncli\nhlt")
    assert result.reason == "halt", result.message
    assert [m.reg_read(r) for r in ("eax", "ebx", "ecx", "edx")] == [0xFFFF0FF0, 0x400, 0, 0x400]


def test_values_are_kept_in_the_cpu_state(engine):
    """mov drN, reg keeps the value in CpuState.dr (DR4/DR5 writes land in DR6/DR7)."""
    m, result = run_asm(engine, "mov eax, 0xabc\nmov dr2, eax\nmov eax, 0\nmov dr5, eax\ncli\nhlt")
    assert result.reason == "halt", result.message
    assert m.state.dr[2] == 0xABC and m.state.dr[7] & 0x400 and m.state.dr[5] == 0


@pytest.mark.parametrize("insn", ["mov eax, dr7", "mov dr0, eax", "mov ebx, dr6", "mov dr7, ecx"])
def test_debug_register_moves_in_ring3_are_gp0(engine, insn):
    """From ring 3 a move from or to a debug register raises #GP(0) at the instruction and
    does not execute it."""
    m = ring_machine(engine, user=f"mov ebx, 7\nmov eax, 0x55\nfault:\n{insn}\nmov ebx, 8")
    result = m.run(max_insns=20_000)
    assert result.reason == "halt", result.message
    error, eip, cs = frame(m)[:3]
    assert (error, eip, cs) == (0, m.labels["fault"], UCODE)
    assert registers(m)["ebx"] == 7 and registers(m)["eax"] == 0x55
    assert m.state.dr[0] == 0 and m.state.dr[7] == 0
