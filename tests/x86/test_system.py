"""Privileged and sensitive instructions on bare-metal guests (vmm only: Unicorn has no
devices or monitor).  Expected values come from the SDM; every test runs on every engine."""

import struct

from tests.asmguest import labels as asm_labels, machine_with, run_asm

GDT_SETUP = """
    lgdt [gdtr]
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    jmp far_ok
"""
GDT_DATA = """
.align 8
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff        ; 0x08 code, flat
    .quad 0x00cf92000000ffff        ; 0x10 data, flat
    .quad 0x0040920012340fff        ; 0x18 data, base 0x1234, limit 0xfff, byte granular
gdtr:
    .word 31
    .long gdt
"""


def test_lgdt_and_segment_loads(engine):
    m, result = run_asm(engine, GDT_SETUP + "far_ok:\nmov ax, 0x18\nmov fs, ax\ncli\nhlt\n" + GDT_DATA)
    assert result.reason == "halt", result.message
    fs = m.state.seg[4]
    assert (fs.selector, fs.base, fs.limit) == (0x18, 0x1234, 0xFFF)
    assert m.state.gdtr.limit == 31


def test_segment_base_applies_to_memory_operands(engine):
    src = GDT_SETUP + "far_ok:\nmov ax, 0x18\nmov fs, ax\nmov eax, 0xabcd\nmov dword ptr fs:[0x10], eax\ncli\nhlt\n" + GDT_DATA
    m, result = run_asm(engine, src)
    assert result.reason == "halt", result.message
    assert struct.unpack("<I", m.mem_read(0x1234 + 0x10, 4))[0] == 0xABCD


def test_xlat_takes_a_segment_override(engine):
    src = GDT_SETUP + ("far_ok:\nmov ax, 0x18\nmov fs, ax\nmov byte ptr fs:[0x105], 0x5a\nmov ebx, 0x100\n"
                       "mov eax, 5\n.byte 0x64\nxlatb\ncli\nhlt\n") + GDT_DATA
    m, result = run_asm(engine, src)
    assert result.reason == "halt", result.message
    assert m.reg_read("eax") == 0x5A                   # fs:[ebx + al], fs based at 0x1234


def test_selector_beyond_gdt_limit_is_gp(engine):
    m, result = run_asm(engine, GDT_SETUP + "far_ok:\nmov ax, 0x40\nmov ds, ax\ncli\nhlt\n" + GDT_DATA)
    assert result.reason == "error" and result.fault == 13


IDT_GUEST = """
    lgdt [gdtr]
    lidt [idtr]
    {body}
    cli
    hlt
handler_de:                       ; skip the 2-byte div: return past it
    mov ebx, [esp]                ; saved EIP
    mov esi, [esp + 4]            ; saved CS
    mov edi, [esp + 8]            ; saved EFLAGS
    add dword ptr [esp], 2
    iretd
handler_80:
    mov edx, 0x80
    iretd
handler_gp:
    pop ebp                       ; the error code
    add dword ptr [esp], 2        ; skip the 2-byte rdmsr
    iretd
handler_db:
    mov edx, [esp]                ; saved EIP: a trap saves the next instruction's
    iretd
handler_ud:
    mov ecx, 0x0d0d
    add dword ptr [esp], 2        ; skip ud2
    iretd
.align 8
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
gdtr:
    .word 23
    .long gdt
.align 8
idt:
    .fill 0x81 * 8, 1, 0
idtr:
    .word 0x81 * 8 - 1
    .long idt
"""


def _idt_machine(engine, body):
    """A guest with an IDT whose gates point at the handlers above; returns (machine, labels)."""
    src = IDT_GUEST.replace("{body}", body)
    labels = asm_labels(src)
    m = machine_with(engine, src)
    for vector, label in ((0, "handler_de"), (0x80, "handler_80"), (13, "handler_gp"), (6, "handler_ud"),
                          (1, "handler_db")):
        offset = labels[label]
        gate = (offset & 0xFFFF) | (0x08 << 16) | (0x8E00 << 32) | ((offset >> 16) << 48)
        m.mem_write(labels["idt"] + vector * 8, struct.pack("<Q", gate))
    m.state.seg[1].selector = 0x08
    return m, labels


def test_divide_error_goes_through_the_idt(engine):
    m, labels = _idt_machine(engine, "mov eax, 5\nxor ecx, ecx\npushfd\nor dword ptr [esp], 0x200\npopfd\n"
                                     "faulting:\ndiv ecx\nmov eax, 77")
    result = m.run(max_insns=10_000)
    assert result.reason == "halt", result.message
    assert m.reg_read("ebx") == labels["faulting"]    # the frame saves the faulting EIP
    assert m.reg_read("esi") == 0x08                  # and CS
    assert m.reg_read("edi") & 0x200                  # and EFLAGS with IF as it was
    assert m.reg_read("eax") == 77                    # the handler resumed after div


def test_int_n_and_iret(engine):
    m, _ = _idt_machine(engine, "int 0x80\nmov eax, 1")
    result = m.run(max_insns=10_000)
    assert result.reason == "halt" and m.reg_read("edx") == 0x80 and m.reg_read("eax") == 1


def test_int1_is_a_debug_trap_through_vector_1(engine):
    """icebp (0xF1): Unicorn treats it as QEMU's debugger stop, so the SDM is the oracle here."""
    m, labels = _idt_machine(engine, "mov eax, 1\n.byte 0xf1\nafter_int1:\nmov eax, 4")
    result = m.run(max_insns=10_000)
    assert result.reason == "halt", result.message
    assert m.reg_read("edx") == labels["after_int1"] and m.reg_read("eax") == 4


def test_unknown_msr_is_gp_with_error_code_zero(engine):
    m, _ = _idt_machine(engine, "mov ebp, 0x55\nmov ecx, 0xdead\nrdmsr\nmov eax, 2")
    result = m.run(max_insns=10_000)
    assert result.reason == "halt" and m.reg_read("ebp") == 0 and m.reg_read("eax") == 2


def test_undefined_instruction_is_ud_in_the_guest(engine):
    m, _ = _idt_machine(engine, "ud2\nmov eax, 3")
    result = m.run(max_insns=10_000)
    assert result.reason == "halt" and m.reg_read("ecx") == 0x0D0D and m.reg_read("eax") == 3


def test_unsupported_instruction_without_idt_stops_with_its_name(engine):
    m, result = run_asm(engine, "nop\nemms")            # MMX is not implemented
    assert result.reason == "error" and result.fault == 6
    assert "#UD" in result.message and "emms" in result.message and "0x00001001" in result.message


def test_cpuid_reports_the_documented_model(engine):
    m, _ = run_asm(engine, "xor eax, eax\ncpuid\nmov esp, eax\nmov esi, ebx\nmov edi, edx\nmov ebp, ecx\n"
                           "mov eax, 1\ncpuid\ncli\nhlt")
    vendor = struct.pack("<III", m.reg_read("esi"), m.reg_read("edi"), m.reg_read("ebp"))
    assert m.reg_read("esp") == 1 and vendor == b"GenuineIntel"
    assert m.reg_read("eax") == 0x633 and m.reg_read("edx") == 0xA939     # FPU PSE TSC MSR CX8 SEP PGE CMOV
    assert m.reg_read("ecx") == 0x80000000                                # HYPERVISOR


def test_port_io_reaches_hooks(engine):
    seen = []
    m = machine_with(engine, "mov dx, 0x510\nmov eax, 0x12345678\nout dx, eax\nin al, 0x51\ncli\nhlt")
    m.hook_port(0x510, write=lambda port, size, value: seen.append((port, size, value)))
    m.hook_port(0x51, read=lambda port, size: 0xAB)
    assert m.run().reason == "halt"
    assert seen == [(0x510, 4, 0x12345678)] and m.reg_read("eax") == 0x123456AB


def test_rep_outsb_writes_every_byte(engine):
    seen = bytearray()
    m = machine_with(engine, "mov esi, msg\nmov ecx, 5\nmov dx, 0x520\ncld\nrep outsb\ncli\nhlt\nmsg: .ascii \"hello\"")
    m.hook_port(0x520, write=lambda port, size, value: seen.append(value))
    assert m.run().reason == "halt"
    assert bytes(seen) == b"hello" and m.reg_read("ecx") == 0


def test_rdtsc_counts_guest_instructions(engine):
    m, _ = run_asm(engine, "rdtsc\nmov esi, eax\nnop\nnop\nrdtsc\nsub eax, esi\ncli\nhlt")
    assert m.reg_read("eax") == 4                     # one tick per instruction: rdtsc mov nop nop


def test_sgdt_shows_the_guest_gdtr(engine):
    m, _ = run_asm(engine, "lgdt [g]\nsgdt [0x3000]\ncli\nhlt\ng: .word 0x17\n.long 0x2000")
    assert m.mem_read(0x3000, 6) == struct.pack("<HI", 0x17, 0x2000)


def test_hlt_with_interrupts_enabled_stops_with_reason(engine):
    m, result = run_asm(engine, "sti\nhlt")
    assert result.reason == "halt" and "interrupts enabled" in result.message


def test_fetch_outside_ram_is_a_clear_error(engine):
    m, result = run_asm(engine, "mov eax, 0x10000000\njmp eax")
    assert result.reason == "error" and "outside guest RAM" in result.message
