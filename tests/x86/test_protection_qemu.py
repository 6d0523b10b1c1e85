"""Ring 3, gates, faults and descriptor probes: vmm against qemu-system-i386, the reference PC.

One multiboot guest sets up its own GDT, IDT and TSS and runs a list of scenarios, each a
piece of ring-3 code (after optional ring-0 preparation) that ends in a handler which prints
what it found on COM1 (error code, frame, registers) and starts the next scenario; the last
is an x87 error reported as #MF at fwait (QEMU reports one only there and at fnop).  QEMU's
printout is the expected one; every engine must print the same.  Differences on purpose,
kept out of the printout: vmm sets the accessed bit of a code segment loaded into CS (the
SDM: on every segment register load), QEMU only for data segments; error codes raised
while delivering an exception carry the EXT bit in vmm (the SDM), not in QEMU.
"""

import functools

import pytest

from tests.asmguest import assemble, labels, new_machine
from tests.boot.elfgen import elf32
from tests.boot.qemuguest import ENTRY, RUNTIME, run_in_qemu
from tests.x86.ringguest import descriptor, gate

FLAT = 0xFFFFFFFF
SCENARIOS = """
user_int80:
    mov eax, 0x11
    int 0x80
user_cli:
    cli
user_int_ring0_gate:
    int 0x81
user_ports:
    in al, 0x80                   ; allowed by the I/O bitmap
    in al, 0x81                   ; not allowed: #GP(0)
user_call_gate:
    push 0x1111
    push 0x2222
    .byte 0x9a                    ; lcall 0x33:0
    .long 0
    .word 0x33
    mov eax, esp
    int 0x80
user_ring0_data:
    mov ax, 0x10
    mov ds, ax
user_probes:
    mov ecx, 0x08
    mov eax, 0xdead
    lar eax, ecx                  ; ring-0 code: not visible from ring 3
    mov ecx, 0x1b
    lar ebx, ecx
    and ebx, ~0x100               ; QEMU leaves CS's accessed bit clear (see above)
    lsl esi, ecx
    mov ecx, 0x10
    verr cx
    pushfd
    pop edi
    mov ecx, 0x23
    verw cx
    pushfd
    pop edx
    int 0x80
user_double_fault:
    mov ax, 0x1234
    mov ds, ax
user_sysenter:
    mov ecx, esp
    mov edx, after_sysexit
    sysenter
after_sysexit:
    mov eax, cs
    mov ebx, ss
    int 0x80
user_popf:
    pushfd
    or dword ptr [esp], 0x3200    ; IOPL and IF: ignored at CPL 3 with IOPL 0
    popfd
    pushfd
    pop eax
    int 0x80
user_x87_error:
    fninit
    fldcw word ptr [x87_control]  ; zero divide unmasked
    fldz
    fld1
    fdiv st(0), st(1)             ; pending: ES set, nothing reported yet
    mov eax, 0x77
    fwait                         ; CR0.NE: #MF here
x87_control:
    .word 0x037b
"""
ORDER = [("0", "user_int80"), ("0", "user_cli"), ("0", "user_int_ring0_gate"), ("0", "user_ports"),
         ("0", "user_call_gate"), ("0", "user_ring0_data"), ("0", "user_probes"),
         ("prep_double_fault", "user_double_fault"), ("prep_sysenter", "user_sysenter"), ("0", "user_popf"),
         ("prep_x87_error", "user_x87_error")]

KERNEL = """
    lgdt [gdtr]
    lidt [idtr]
    .byte 0xea                    ; ljmp 0x08:reload
    .long reload
    .word 0x08
reload:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    mov ax, 0x28
    ltr ax
    mov dword ptr [scenario], scenarios
next_scenario:                    ; run the scenario [scenario] points at, or finish
    mov esp, 0x90000
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov esi, [scenario]
    cmp esi, scenarios_end
    je done
    add dword ptr [scenario], 8
    mov eax, [esi]
    test eax, eax
    jz to_user
    call eax
to_user:
    xor ebx, ebx                  ; no register leaks the loaders' differences into a printout
    xor edx, edx
    xor edi, edi
    mov ax, 0x23
    mov ds, ax
    mov es, ax
    push 0x23
    push 0x80000
    push 0x2
    push 0x1b
    push dword ptr [esi + 4]
    xor esi, esi
    iretd
report_error:                     ; #GP #NP #SS #TS #DF: error code, EIP, CS
    mov eax, [esp]
    call hex32
    mov eax, [esp + 4]
    call hex32
    mov eax, [esp + 8]
    call hex32
    jmp next_scenario
report_frame:                     ; int 0x80: EIP CS EFLAGS ESP SS, the handler's ESP, registers
    mov ecx, 5
    mov ebp, esp
frame_word:
    push eax
    mov eax, [ebp]
    call hex32
    pop eax
    add ebp, 4
    loop frame_word
    push eax
    mov eax, esp
    add eax, 4
    call hex32
    pop eax
    call hex32
    mov eax, ebx
    call hex32
    mov eax, esi
    call hex32
    mov eax, edi
    call hex32
    mov eax, edx
    call hex32
    jmp next_scenario
report_x87:                       ; #MF: EIP, CS, the status word; the error cleared
    mov eax, [esp]
    call hex32
    mov eax, [esp + 4]
    call hex32
    fnstsw ax
    movzx eax, ax
    call hex32
    fnclex
    jmp next_scenario
call_gate_entry:                  ; ring 0 via the call gate: its stack, then back to ring 3
    mov ecx, 6
    mov ebp, esp
gate_word:
    mov eax, [ebp]
    call hex32
    add ebp, 4
    loop gate_word
    mov eax, esp
    call hex32
    retf 8
prep_double_fault:                ; #GP and #NP gates not present: #GP becomes #DF
    and byte ptr [idt + 13 * 8 + 5], 0x7f
    and byte ptr [idt + 11 * 8 + 5], 0x7f
    ret
prep_sysenter:
    and byte ptr [idt + 13 * 8 + 5], 0xff
    or byte ptr [idt + 13 * 8 + 5], 0x80
    or byte ptr [idt + 11 * 8 + 5], 0x80
    mov ecx, 0x174
    xor edx, edx
    mov eax, 0x08
    wrmsr
    mov ecx, 0x175
    mov eax, 0x8f000
    wrmsr
    mov ecx, 0x176
    mov eax, sysenter_entry
    wrmsr
    ret
prep_x87_error:                   ; x87 errors as #MF, not IRQ 13
    mov eax, cr0
    or eax, 0x20
    mov cr0, eax
    ret
sysenter_entry:
    mov eax, esp
    call hex32
    mov eax, cs
    call hex32
    mov eax, ss
    call hex32
    sysexit
"""


def _tables(where):
    """GDT, IDT and TSS as assembler data, from the label addresses of a first pass."""
    gdt = [0, descriptor(0, FLAT, 0x9A), descriptor(0, FLAT, 0x92), descriptor(0, FLAT, 0xFA),
           descriptor(0, FLAT, 0xF2), descriptor(where["tss"], 0x68 + 0x2000, 0x89, flags=0),
           gate(0x08, where["call_gate_entry"], 0xC, 3, params=2)]
    idt = [0] * 256
    for vector in (8, 10, 11, 12, 13):
        idt[vector] = gate(0x08, where["report_error"], 0xE, 0)
    idt[16] = gate(0x08, where["report_x87"], 0xE, 0)
    idt[0x80] = gate(0x08, where["report_frame"], 0xE, 3)
    idt[0x81] = gate(0x08, where["report_frame"], 0xE, 0)
    quads = lambda values: "\n".join(f"    .quad {v:#x}" for v in values)
    scenarios = "\n".join(f"    .long {prep}, {user}" for prep, user in ORDER)
    return f"""
.align 8
gdt:
{quads(gdt)}
gdtr:
    .word {len(gdt) * 8 - 1}
    .long gdt
.align 8
idt:
{quads(idt)}
idtr:
    .word {len(idt) * 8 - 1}
    .long idt
scenario:
    .long 0
scenarios:
{scenarios}
scenarios_end:
.align 4
tss:
    .long 0, 0x90000, 0x10        ; back link, ESP0, SS0
    .fill 0x58, 1, 0
    .word 0, 0x68                 ; the I/O bitmap at offset 0x68
    .fill 16, 1, 0xff
    .byte 0xfe                    ; port 0x80 allowed
    .fill 0x2000 - 17 + 1, 1, 0xff
"""


@functools.lru_cache(maxsize=None)
def _image():
    source = "mov esp, 0x90000\n" + KERNEL + SCENARIOS + RUNTIME
    where = labels(source + _tables({"tss": 0, "call_gate_entry": 0, "report_error": 0, "report_frame": 0, "report_x87": 0}),
                   ENTRY)
    return elf32(assemble(source + _tables(where), ENTRY), entry=ENTRY)


@pytest.fixture(scope="module")
def qemu_output(tmp_path_factory):
    return run_in_qemu(_image(), tmp_path_factory.mktemp("qemu"))


def test_protection_scenarios_print_what_qemu_prints(engine, qemu_output, tmp_path):
    path = tmp_path / "guest.elf"
    path.write_bytes(_image())
    out = bytearray()
    m = new_machine(engine, memory_mb=16)
    m.hook_port(0x3F8, write=lambda port, size, value: out.append(value))
    m.load(str(path))
    result = m.run(max_insns=2_000_000)
    assert result.reason == "exit" and result.exit_code == 33, result.message
    assert bytes(out).split() == qemu_output.split()
