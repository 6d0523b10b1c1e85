"""The x87 in whole guests, on every engine: Linux's FPU checks, an fnsave/frstor round
trip, #NM through the guest IDT (CR0.TS and CR0.EM; fwait only with TS and MP), and x87
loops that really run as translated code (few STEP exits)."""

import struct

import pytest

from tests.asmguest import run_asm
from vmm.translator.exits import STEP

from vmm.x86.exceptions import NM

from .test_system import _idt_machine


def test_linux_fpu_presence_check(engine):
    """arch/x86 fpu__init_check: fninit; fnstsw; fnstcw; status 0 and control 0x37F mean an FPU."""
    m, result = run_asm(engine, "mov word ptr [0x3000], 0xffff\nmov word ptr [0x3002], 0xffff\n"
                                "fninit\nfnstsw word ptr [0x3000]\nfnstcw word ptr [0x3002]\ncli\nhlt")
    assert result.reason == "halt", result.message
    status, control = struct.unpack("<HH", m.mem_read(0x3000, 4))
    assert status == 0 and control & 0x103F == 0x003F and control == 0x037F


def test_fdiv_bug_check(engine):
    """check_fpu(): x - (x / y) * y for 4195835 / 3145727 is 0 on an FPU without the
    Pentium FDIV bug (the flawed part gives 256)."""
    x, y = struct.unpack("<QQ", struct.pack("<dd", 4195835.0, 3145727.0))
    src = ("fninit\nfld qword ptr [x]\nfdiv qword ptr [y]\nfmul qword ptr [y]\nfld qword ptr [x]\n"
           "fsubp st(1), st(0)\nfistp dword ptr [result]\nfwait\nmov eax, [result]\ncli\nhlt\n"
           f".align 8\nx: .quad {x:#x}\ny: .quad {y:#x}\nresult: .long 0x1234")
    m, result = run_asm(engine, src)
    assert result.reason == "halt", result.message
    assert m.reg_read("eax") == 0


def test_fnsave_frstor_round_trip(engine):
    """Three values and a non-default control word survive fnsave (which reinitialises),
    arithmetic in between, and frstor; fnstsw ax shows TOP afterwards."""
    src = ("fninit\nfldcw word ptr [cw]\nfldpi\nfld1\nfldz\nfnsave [0x3000]\nfld1\nfld1\nfaddp st(1), st(0)\n"
           "frstor [0x3000]\nfnstsw ax\nfstp tbyte ptr [0x3100]\nfstp tbyte ptr [0x3110]\n"
           "fstp tbyte ptr [0x3120]\nfnstcw word ptr [0x3130]\ncli\nhlt\ncw: .word 0x0e7f")
    m, result = run_asm(engine, src)
    assert result.reason == "halt", result.message
    assert (m.reg_read("eax") >> 11) & 7 == 5                     # three pushes from TOP 0
    zero, one, pi = (m.mem_read(0x3100 + 16 * k, 10) for k in range(3))
    assert zero == bytes(10) and one == struct.pack("<QH", 1 << 63, 0x3FFF)
    assert pi == struct.pack("<QH", 0xC90FDAA22168C234, 0x4000)     # rounded down: RC = 11b (chop)
    assert m.mem_read(0x3130, 2) == b"\x7f\x0e"
    image = m.mem_read(0x3000, 108)           # tags: pi, 1 valid (00), 0 zero (01), the rest empty
    assert struct.unpack_from("<H", image, 0)[0] == 0x0E7F and struct.unpack_from("<H", image, 8)[0] == 0x07FF


NM_BODY = """
    mov eax, cr0
    or eax, {cr0_bits}
    mov cr0, eax
    xor ebx, ebx
    xor ecx, ecx
    {body}
first_fpu:
    fninit
    fld1
    fld1
    faddp st(1), st(0)
    fistp dword ptr [0x3000]
    mov eax, [0x3000]
    jmp done
handler_nm:                   ; lazy FPU switch: count, remember EIP, clear TS and EM, retry
    inc ebx
    mov ecx, [esp]
    mov edx, cr0
    and edx, 0xfffffffb
    mov cr0, edx
    clts
    iretd
done:
"""


def _nm_guest(engine, cr0_bits, body=""):
    m, labels = _idt_machine(engine, NM_BODY.replace("{cr0_bits}", str(cr0_bits)).replace("{body}", body))
    offset = labels["handler_nm"]
    gate = (offset & 0xFFFF) | (0x08 << 16) | (0x8E00 << 32) | ((offset >> 16) << 48)
    m.mem_write(labels["idt"] + NM * 8, struct.pack("<Q", gate))
    result = m.run(max_insns=10_000)
    assert result.reason == "halt", result.message
    return m, labels


@pytest.mark.parametrize("bits", [8, 4, 12])                 # TS, EM, both
def test_nm_when_cr0_ts_or_em(engine, bits):
    m, labels = _nm_guest(engine, bits)
    assert m.reg_read("ebx") == 1 and m.reg_read("ecx") == labels["first_fpu"]   # one #NM, at fninit
    assert m.reg_read("eax") == 2 and m.reg_read("cr0") & 0xC == 0


@pytest.mark.parametrize("bits, at", [(8, "first_fpu"), (10, "wait_here"), (2, None)])   # TS; TS+MP; MP
def test_fwait_nm_only_with_ts_and_mp(engine, bits, at):
    m, labels = _nm_guest(engine, bits, "wait_here:\nfwait")
    assert m.reg_read("ebx") == (at is not None) and m.reg_read("eax") == 2
    assert m.reg_read("ecx") == (labels[at] if at else 0)


FPU_LOOP = """
    fninit
    fld1
    fldz
    mov ecx, {n}
again:
    fadd st(0), st(1)
    fld st(0)
    fmul st(0), st(0)
    fstp qword ptr [0x3008]
    dec ecx
    jnz again
    fistp dword ptr [0x3000]
    cli
    hlt
"""


def test_fpu_loop_runs_translated(engine):
    """An x87 loop runs in translated code: the helpers are called from it, not by leaving
    it (STEP exits would run each x87 instruction in the interpreter)."""
    n = 300 if engine == "interp" else 20_000
    m, result = run_asm(engine, FPU_LOOP.replace("{n}", str(n)))
    assert result.reason == "halt", result.message
    assert struct.unpack("<I", m.mem_read(0x3000, 4))[0] == n
    assert struct.unpack("<d", m.mem_read(0x3008, 8))[0] == float(n) ** 2
    if engine != "interp":
        assert m.translator.stats()["exits"].get(STEP, 0) <= 2


def test_faulting_store_leaves_the_fpu_as_it_was(engine):
    """fstp to memory the guest does not have: the access fails before the pop, so TOP and
    the tags are those of before the instruction (the translator's helper only prepared them)."""
    m, result = run_asm(engine, "fninit\nfld1\nfstp qword ptr [0xfffffff0]\ncli\nhlt")
    assert result.reason == "error" and "outside guest RAM" in result.message
    fpu = m.state.fpu
    assert (fpu.sw >> 11) & 7 == 7 and fpu.tw & 0xFFFF == 0x3FFF
    assert m.reg_read("eip") == 0x1000 + 4                 # fninit (2) and fld1 (2) retired


def test_16_bit_environment_forms_are_ud(engine):
    m, result = run_asm(engine, "fninit\n.byte 0x66\nfnstenv [0x3000]\ncli\nhlt")
    assert result.reason == "error" and result.fault == 6
