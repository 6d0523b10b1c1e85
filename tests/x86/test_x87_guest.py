"""The x87 in whole guests, on every engine: Linux's FPU checks, an fnsave/frstor round
trip, #NM through the guest IDT (CR0.TS and CR0.EM; fwait only with TS and MP), a pending
unmasked exception reported as #MF (CR0.NE) or IRQ 13 (FERR#), and x87 loops that really
run as translated code (few STEP exits).  Unicorn gives no #MF to a guest IDT: the expected
values are the SDM's, and which instructions report is checked against the host CPU
(test_x87_host.py)."""

import struct

import pytest

from tests.asmguest import run_asm
from vmm.translator.exits import STEP

from vmm.x86.exceptions import MF, NM

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


MF_BODY = """
    mov eax, cr0
    or eax, {cr0_bits}
    mov cr0, eax
    xor ebx, ebx
    xor ecx, ecx
    xor esi, esi
    mov word ptr [0x3080], 0
    {setup}
    fninit
    fldcw word ptr [unmasked]
    fldz
    fld1
    fdiv st(0), st(1)             ; 1 / 0 with ZE unmasked: ES set, ST(0) left alone
    {between}
waiting:
    {insn}
after:
    fnstsw ax
    jmp done
handler_mf:                       ; count, remember EIP and the status word, clear the error
    inc ebx
    mov ecx, [esp]
    fnstsw word ptr [0x3080]
    fnclex
    mov dword ptr [0x3100 + esi * 4], 16
    inc esi
    iretd
handler_nm:
    clts
    mov dword ptr [0x3100 + esi * 4], 7
    inc esi
    iretd
handler_irq13:                    ; what Linux's math_error_irq does, then EOI both PICs
    inc ebx
    mov ecx, [esp]
    fnstsw word ptr [0x3080]
    fnclex
    out 0xf0, al
    mov al, 0x20
    out 0xa0, al
    out 0x20, al
    iretd
unmasked:
    .word 0x037b
done:
"""
ZE_PENDING = 0x8084                   # B, ES and ZE: what the handler finds


def _handler_status(m):
    """The status word the handler stored, TOP left out."""
    return struct.unpack("<H", m.mem_read(0x3080, 2))[0] & ~0x3800
NE, TS = 0x20, 0x8
IRQ13_VECTOR = 0x75                   # the slave PIC's base 0x70 (the BIOS's) + 5
PIC_OPEN_IRQ13 = "mov al, 0xdf\nout 0xa1, al\nmov al, 0xfb\nout 0x21, al"


def _mf_guest(engine, insn, cr0_bits=NE, setup="", between=""):
    src = (MF_BODY.replace("{cr0_bits}", str(cr0_bits)).replace("{setup}", setup)
           .replace("{between}", between).replace("{insn}", insn))
    m, labels = _idt_machine(engine, src)
    for vector, label in ((MF, "handler_mf"), (NM, "handler_nm"), (IRQ13_VECTOR, "handler_irq13")):
        offset = labels[label]
        gate = (offset & 0xFFFF) | (0x08 << 16) | (0x8E00 << 32) | ((offset >> 16) << 48)
        m.mem_write(labels["idt"] + vector * 8, struct.pack("<Q", gate))
    result = m.run(max_insns=10_000)
    assert result.reason == "halt", result.message
    return m, labels


WAITING = ["fwait", "fnop", "fld1", "fldcw word ptr [unmasked]", "fxch st(1)", "fstp st(0)",
           "fadd dword ptr [unmasked]", "fldenv [0x3200]", "frstor [0x3200]"]


@pytest.mark.parametrize("insn", WAITING)
def test_pending_exception_is_mf_at_the_next_waiting_instruction(engine, insn):
    """CR0.NE: #MF, a fault with EIP on the waiting instruction; the handler's fnclex clears
    the error, so the instruction runs when iret returns to it (once: one #MF)."""
    m, labels = _mf_guest(engine, insn, setup="fninit\nfnsave [0x3200]", between="mov edi, 5")
    assert (m.reg_read("ebx"), m.reg_read("ecx")) == (1, labels["waiting"])
    assert _handler_status(m) == ZE_PENDING and m.reg_read("eax") & 0x80 == 0 and m.reg_read("edi") == 5


@pytest.mark.parametrize("insn, cleared", [("fnstsw ax", False), ("fnstcw word ptr [0x3000]", False),
                                           ("fnclex", True), ("fninit", True), ("fnsave [0x3000]", True),
                                           ("fnstenv [0x3000]", True)])
def test_no_wait_instructions_do_not_report(engine, insn, cleared):
    """fnstsw and fnstcw run with the error pending (it is reported at the fwait after them);
    fnclex and fninit clear it, fnsave reinitialises, fnstenv masks every exception."""
    m, labels = _mf_guest(engine, insn + "\nlater:\nfwait")
    assert m.reg_read("ebx") == (0 if cleared else 1)
    assert m.reg_read("ecx") == (0 if cleared else labels["later"])


def test_nm_comes_before_mf(engine):
    """CR0.TS set while an error is pending: the waiting instruction takes #NM first; once
    the handler clears TS, the retried instruction takes #MF, and runs after that."""
    m, labels = _mf_guest(engine, "fld1", between=f"mov eax, cr0\nor eax, {TS}\nmov cr0, eax")
    assert struct.unpack("<II", m.mem_read(0x3100, 8)) == (7, 16) and m.reg_read("esi") == 2
    assert m.reg_read("ecx") == labels["waiting"]


def test_without_ne_the_error_is_irq_13(engine):
    """CR0.NE clear: FERR# raises IRQ 13 on the PIC instead; with interrupts open it is taken
    at the waiting instruction, whose handler clears the error so the fwait then runs."""
    m, labels = _mf_guest(engine, "fwait", cr0_bits=0, setup=PIC_OPEN_IRQ13 + "\nsti")
    assert (m.reg_read("ebx"), m.reg_read("ecx"), _handler_status(m)) == (1, labels["waiting"], ZE_PENDING)
    assert m.reg_read("esi") == 0                        # no #MF


def test_without_ne_and_interrupts_closed_the_instructions_run(engine):
    """CR0.NE clear and IF clear: the waiting instructions run as if the exception were
    masked, FERR# is asserted once (one IRQ 13), taken when sti opens interrupts."""
    m, labels = _mf_guest(engine, "fwait\nfld1\nfwait\nsti\nnop\nopened:\nnop", cr0_bits=0,
                          setup=PIC_OPEN_IRQ13)
    assert (m.reg_read("ebx"), m.reg_read("ecx"), _handler_status(m)) == (1, labels["opened"], ZE_PENDING)
    assert m.reg_read("eax") & 0x80 == 0 and (m.reg_read("eax") >> 11) & 7 == 5      # fld1 pushed
