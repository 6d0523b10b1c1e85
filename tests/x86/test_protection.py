"""Rings 0 and 3 on bare-metal guests (tests/x86/ringguest.py), on every engine: the stack
switch of interrupts, #GP for privileged instructions and port I/O, call gates, far returns,
iret to ring 3, sysenter/sysexit, #DF and triple faults.  Expected values are the SDM's
(vol. 3, chapters 5-7).  Unicorn gives exceptions to hooks, not to a guest IDT, and keeps CPL
0 whatever CS it is given, so it is the oracle for the ring-0 descriptor checks only
(tests/x86/test_descriptors.py)."""

import struct

import pytest

from tests.x86.ringguest import (GDT_BASE, KCODE, RING0_STACK, RING3_STACK, TSS_SEL, UCODE, UDATA,
                                 descriptor, frame, gate, handler_state, registers, ring_machine)
from vmm.x86.interrupts import deliver

GP, NP, DF = 13, 11, 8


def run(m):
    result = m.run(max_insns=20_000)
    assert result.reason == "halt", result.message
    return m


def test_iret_to_ring3_then_int_0x80_switches_to_the_tss_stack(engine):
    m = run(ring_machine(engine, user="mov ebx, esp\nsub esp, 12"))
    eip, cs, eflags, esp, ss = frame(m)[:5]
    assert (cs, eflags & ~0x8D5, esp, ss) == (UCODE, 0x2, RING3_STACK - 12, UDATA)      # sub sets flags
    assert eip == m.labels["user_end"]
    assert handler_state(m) == (RING0_STACK - 20, 0x10, KCODE)
    assert registers(m)["ebx"] == RING3_STACK
    # iret to ring 3 nulled FS and GS (they held the ring-0 data segment); DS/ES are ring 3's
    assert [m.state.seg[n].selector for n in (0, 3, 4, 5)] == [UDATA, UDATA, 0, 0]


PRIVILEGED = ["cli", "sti", "hlt", "in al, 0x60", "out 0x80, al", "mov eax, cr0", "mov cr3, eax", "lgdt [0]",
              "lidt [0]", "ltr ax", "lldt ax", "lmsw ax", "clts", "invlpg [0]", "wbinvd", "rdmsr", "wrmsr",
              "sysexit", "insb", "outsb"]


@pytest.mark.parametrize("insn", PRIVILEGED)
def test_privileged_instruction_in_ring3_is_gp0(engine, insn):
    m = run(ring_machine(engine, user=f"mov ebx, 7\nfault:\n{insn}\nmov ebx, 8"))
    error, eip, cs = frame(m)[:3]
    assert (error, eip, cs) == (0, m.labels["fault"], UCODE)
    assert registers(m)["ebx"] == 7


def test_rdtsc_in_ring3_faults_only_with_cr4_tsd(engine):
    m = run(ring_machine(engine, user="rdtsc\nmov ebx, 1\nrdtsc",
                         kernel="mov eax, 4\nmov cr4, eax\nmov eax, 0\nmov cr4, eax"))
    assert registers(m)["ebx"] == 1 and frame(m)[1] == UCODE        # the int 0x80 frame: no fault
    m = run(ring_machine(engine, user="mov ebx, 1\nfault:\nrdtsc", kernel="mov eax, 4\nmov cr4, eax"))
    assert frame(m)[:2] == (0, m.labels["fault"])


def test_popf_in_ring3_changes_neither_iopl_nor_if(engine):
    m = run(ring_machine(engine, user="pushfd\nor dword ptr [esp], 0x3201\npopfd\npushfd\npop ebx"))
    assert registers(m)["ebx"] & 0x3201 == 0x0001        # CF changed; IOPL and IF did not


def test_popf_in_ring3_changes_if_when_iopl_allows(engine):
    m = run(ring_machine(engine, eflags=0x3002, user="pushfd\nor dword ptr [esp], 0x200\nand dword ptr [esp], ~0x3000\n"
                                                       "popfd\npushfd\npop ebx"))
    assert registers(m)["ebx"] & 0x3200 == 0x3200        # IF set; IOPL kept at 3


def test_iopl3_allows_cli_and_port_io_in_ring3(engine):
    seen = []
    m = ring_machine(engine, eflags=0x3002, user="cli\nsti\ncli\nmov al, 0x5a\nout 0x81, al\nin al, 0x81")
    m.hook_port(0x81, read=lambda port, size: 0x33, write=lambda port, size, value: seen.append(value))
    run(m)
    assert seen == [0x5A] and frame(m)[:2] == (m.labels["user_end"], UCODE)


def test_io_bitmap_allows_one_port_in_ring3(engine):
    seen = []
    m = ring_machine(engine, io_map={0x80: True, 0x82: True, 0x83: True},
                     user="mov al, 1\nout 0x80, al\nmov ax, 0x0302\nout 0x82, ax\nfault:\nout 0x81, al")
    m.hook_port(0x80, write=lambda port, size, value: seen.append((port, value)))
    m.hook_port(0x82, write=lambda port, size, value: seen.append((port, value)))
    run(m)
    assert seen == [(0x80, 1), (0x82, 0x302)]
    assert frame(m)[:2] == (0, m.labels["fault"])


def test_io_bitmap_checks_every_byte_of_the_access(engine):
    m = run(ring_machine(engine, io_map={0x80: True}, user="mov dx, 0x80\nfault:\nin ax, dx"))
    assert frame(m)[:2] == (0, m.labels["fault"])        # 0x81 is not allowed


def test_int_through_a_ring0_gate_from_ring3_is_gp(engine):
    m = run(ring_machine(engine, user="fault:\nint 0x81", idt={0x81: ("record", 0xE, 0)}))
    assert frame(m)[:3] == (0x81 * 8 + 2, m.labels["fault"], UCODE)


def test_int3_through_a_ring3_trap_gate_keeps_if(engine):
    m = run(ring_machine(engine, eflags=0x3202, user="int3", idt={3: ("record", 0xF, 3)}))
    eip, cs, eflags = frame(m)[:3]
    assert (eip, cs) == (m.labels["user"] + 1, UCODE) and eflags & 0x200


CALL_GATE = 0x30


def test_call_gate_to_ring0_copies_parameters_and_retf_returns_to_ring3(engine):
    handlers = """
gate_entry:
    mov eax, [esp]                ; return EIP
    mov [0x20100], eax
    mov eax, [esp + 4]            ; CS
    mov [0x20104], eax
    mov eax, [esp + 8]            ; the parameters, in the caller's order
    mov [0x20108], eax
    mov eax, [esp + 12]
    mov [0x2010c], eax
    mov eax, [esp + 16]           ; the caller's ESP and SS
    mov [0x20110], eax
    mov eax, [esp + 20]
    mov [0x20114], eax
    mov [0x20118], esp
    mov ax, 0x10                  ; a ring-0 data segment the return must drop
    mov gs, ax
    retf 8
"""
    user = """
    push 0x1111
    push 0x2222
    .byte 0x9a                    ; lcall 0x33:0 (Keystone cannot encode far calls)
    .long 0
    .word 0x33
back:
    mov ebx, esp
    mov ecx, cs
    mov edx, gs
"""
    m = ring_machine(engine, user=user, handlers=handlers, gdt={CALL_GATE: 0})      # written below
    m.mem_write(GDT_BASE + CALL_GATE, struct.pack("<Q", gate(KCODE, m.labels["gate_entry"], 0xC, 3, params=2)))
    run(m)
    words = struct.unpack("<7I", m.mem_read(0x20100, 28))
    assert words == (m.labels["back"], UCODE, 0x2222, 0x1111, RING3_STACK - 8, UDATA, RING0_STACK - 24)
    assert [registers(m)[r] for r in ("ebx", "ecx", "edx")] == [RING3_STACK, UCODE, 0]


def test_call_gate_with_dpl0_from_ring3_is_gp(engine):
    m = ring_machine(engine, user="fault:\n.byte 0x9a\n.long 0\n.word 0x33", handlers="gate_entry:\nhlt",
                     gdt={CALL_GATE: 0})
    m.mem_write(GDT_BASE + CALL_GATE, struct.pack("<Q", gate(KCODE, m.labels["gate_entry"], 0xC, 0)))
    run(m)
    assert frame(m)[:3] == (0x30, m.labels["fault"], UCODE)


def test_far_jump_to_conforming_code_keeps_cpl3(engine):
    conforming = descriptor(0, 0xFFFFFFFF, 0x9E)          # DPL 0, conforming, readable
    m = ring_machine(engine, gdt={0x38: conforming},
                     user=".byte 0xea\n.long there\n.word 0x3b\nthere:\nmov ecx, cs\nmov ebx, 1")
    run(m)
    assert registers(m)["ecx"] == 0x3B and frame(m)[1] == 0x3B


def test_far_jump_to_ring0_code_from_ring3_is_gp(engine):
    m = run(ring_machine(engine, user="fault:\n.byte 0xea\n.long 0\n.word 0x08"))
    assert frame(m)[:2] == (KCODE, m.labels["fault"])


def test_segment_loads_check_privilege_and_presence(engine):
    m = ring_machine(engine, gdt={0x38: descriptor(0, 0xFFFF, 0x72, flags=0)},   # DPL 3, not present
                     user="mov ax, 0\nmov fs, ax\nmov ax, 0x10\nfault:\nmov ds, ax")
    run(m)
    assert frame(m)[:2] == (0x10, m.labels["fault"])     # ring-0 data from ring 3: #GP(0x10)
    m = ring_machine(engine, gdt={0x38: descriptor(0, 0xFFFF, 0x72, flags=0)},
                     user="mov ax, 0x3b\nfault:\nmov es, ax", idt={NP: ("record", 0xE, 0)})
    run(m)
    assert frame(m)[:2] == (0x38, m.labels["fault"])      # not present: #NP(0x38)


def test_segment_load_sets_the_accessed_bit(engine):
    m = ring_machine(engine, gdt={0x38: descriptor(0x1000, 0xFFFF, 0xF2, flags=0)},
                     user="mov ax, 0x3b\nmov fs, ax")
    run(m)
    assert m.mem_read(GDT_BASE + 0x38 + 5, 1)[0] == 0xF3 and m.state.seg[4].base == 0x1000


def test_ltr_sets_busy_and_a_busy_tss_cannot_be_loaded_again(engine):
    m = run(ring_machine(engine, user="", kernel="mov ecx, 0\nstr ecx\nmov ax, 0x28\nfault:\nltr ax"))
    assert m.mem_read(GDT_BASE + TSS_SEL + 5, 1)[0] == 0x8B
    assert frame(m)[:3] == (TSS_SEL, m.labels["fault"], KCODE) and registers(m)["ecx"] == TSS_SEL


def test_les_and_lss_load_segment_and_register(engine):
    kernel = """
    les ebx, [pointer]
    lss esp, [stack]
    mov ecx, es
    mov edx, ss
    mov edi, esp
    mov esp, 0x30000
    mov ax, 0x10
    mov ss, ax
    mov esi, 0x55
fault:
    lds esi, [bad]                ; a TSS selector in DS is #GP(0x28), ESI untouched
    jmp fault
pointer:
    .long 0x12345678
    .word 0x20
stack:
    .long 0x2f000
    .word 0x10
bad:
    .long 0x99
    .word 0x28
"""
    m = run(ring_machine(engine, user="", kernel=kernel))
    assert [registers(m)[r] for r in ("ebx", "ecx", "edx", "edi", "esi")] == [0x12345678, 0x20, 0x10, 0x2F000, 0x55]
    assert frame(m)[:2] == (TSS_SEL, m.labels["fault"])


def test_sysenter_and_sysexit_round_trip(engine):
    kernel = """
    mov ecx, 0x174
    mov eax, 0x08
    xor edx, edx
    wrmsr
    mov ecx, 0x175
    mov eax, 0x2e000
    wrmsr
    mov ecx, 0x176
    mov eax, entry
    wrmsr
"""
    handlers = """
entry:
    mov [0x20100], esp
    mov word ptr [0x20104], cs
    mov word ptr [0x20108], ss
    pushfd
    pop eax
    mov [0x2010c], eax
    sysexit
"""
    user = """
    mov ecx, esp
    mov edx, after
    sysenter
after:
    mov ebx, esp
    mov esi, cs
    mov edi, ss
"""
    m = run(ring_machine(engine, user=user, kernel=kernel, handlers=handlers, eflags=0x202))
    assert struct.unpack("<4I", m.mem_read(0x20100, 16)) == (0x2E000, 0x08, 0x10, 0x2)
    assert [registers(m)[r] for r in ("ebx", "esi", "edi")] == [RING3_STACK, UCODE, UDATA]


def test_fault_delivering_gp_through_a_not_present_gate_is_a_double_fault(engine):
    m = run(ring_machine(engine, user="mov ax, 0x1234\nmov ds, ax",
                         idt={GP: ("record", 0xE, 0, False), NP: ("record", 0xE, 0, False)}))
    error, eip, cs = frame(m)[:3]
    assert error == 0 and cs == UCODE and eip == m.labels["user"] + 4


def test_fault_delivering_a_double_fault_is_a_triple_fault(engine):
    m = ring_machine(engine, user="mov ax, 0x1234\nmov ds, ax",
                     idt={GP: ("record", 0xE, 0, False), NP: ("record", 0xE, 0, False), DF: ("record", 0xE, 0, False)})
    result = m.run(max_insns=20_000)
    assert result.reason == "error" and result.fault == DF
    assert "triple fault" in result.message and "#GP" in result.message


def test_software_interrupt_to_a_not_present_gate_is_np_not_double_fault(engine):
    m = run(ring_machine(engine, user="fault:\nint 0x40", idt={0x40: ("record", 0xE, 3, False)}))
    assert frame(m)[:2] == (0x40 * 8 + 2, m.labels["fault"])


def test_hardware_interrupt_in_ring3_sets_ext_in_error_codes(engine):
    m = ring_machine(engine, user="spin:\njmp spin", idt={0x20: ("record", 0xE, 0, False)})
    result = m.run(max_insns=200)
    assert result.reason == "limit" and m.state.seg[1].selector == UCODE
    deliver(m, 0x20, None, return_eip=m.state.eip, detail="IRQ 0", external=True)
    run(m)
    assert frame(m)[:3] == (0x20 * 8 + 2 + 1, m.labels["spin"], UCODE)    # #NP with EXT set


DF_TSS, DF_TSS_BASE = 0x30, 0x13000


def test_double_fault_through_a_task_gate_and_iret_back_to_the_faulting_task(engine):
    handlers = """
df_entry:                         ; a new task: its own stack, NT set, the error code pushed
    pop eax
    mov [0x20100], eax
    mov [0x20104], esp
    str word ptr [0x20108]
    pushfd
    pop eax
    mov [0x2010c], eax
    mov dword ptr [0x12020], resume   ; the old task (saved EIP at TSS + 0x20) resumes after the mov
    iretd                         ; NT: back to the task in the back link
"""
    user = "mov ax, 0x1234\nmov ds, ax\nresume:\nmov ebx, 0x77"
    m = ring_machine(engine, user=user, handlers=handlers, gdt={DF_TSS: descriptor(DF_TSS_BASE, 0x67, 0x89, flags=0)},
                     idt={GP: ("record", 0xE, 0, False), NP: ("record", 0xE, 0, False), DF: (DF_TSS, 5, 0)})
    tss = bytearray(0x68)
    struct.pack_into("<II", tss, 0x20, m.labels["df_entry"], 0x2)               # EIP, EFLAGS
    struct.pack_into("<I", tss, 0x38, 0x2C000)                                   # ESP
    struct.pack_into("<6I", tss, 0x48, UDATA, KCODE, 0x10, UDATA, 0, 0)          # ES CS SS DS FS GS
    m.mem_write(DF_TSS_BASE, bytes(tss))
    run(m)
    error, esp, tr, eflags = struct.unpack("<4I", m.mem_read(0x20100, 16))
    assert (error, esp, tr & 0xFFFF, eflags & 0x4000) == (0, 0x2C000, DF_TSS, 0x4000)
    assert struct.unpack("<H", m.mem_read(DF_TSS_BASE, 2))[0] == TSS_SEL          # the back link
    assert frame(m)[:2] == (m.labels["user_end"], UCODE) and registers(m)["ebx"] == 0x77
    assert m.state.tr.selector == TSS_SEL
    assert m.mem_read(GDT_BASE + DF_TSS + 5, 1)[0] == 0x89                        # no longer busy
    assert m.mem_read(GDT_BASE + TSS_SEL + 5, 1)[0] == 0x8B


def test_smsw_works_in_ring3_and_lmsw_cannot_clear_pe(engine):
    m = run(ring_machine(engine, kernel="mov ax, 0x8\nlmsw ax\nmov edi, cr0\nmov [0x20100], edi",
                         user="smsw ebx\nsmsw word ptr [0x20104]"))
    cr0, word = struct.unpack("<IH", m.mem_read(0x20100, 6))
    assert cr0 & 0xF == 0x9                                    # TS set, PE kept
    assert registers(m)["ebx"] == cr0 and word == cr0 & 0xFFFF


def test_iret_to_ring3_with_a_ring0_stack_segment_is_gp(engine):
    kernel = "push 0x10\npush 0x40000\npush 0x2\npush 0x1b\nmov eax, user\npush eax\nfault:\niretd"
    m = run(ring_machine(engine, user="", kernel=kernel))
    assert frame(m)[:3] == (0x10, m.labels["fault"], KCODE)      # #GP(SS selector), still in ring 0


def test_hardware_interrupt_in_ring3_enters_ring0_on_the_tss_stack(engine):
    m = ring_machine(engine, eflags=0x202, user="spin:\njmp spin", idt={0x20: ("record", 0xE, 0)})
    assert m.run(max_insns=200).reason == "limit"
    deliver(m, 0x20, None, return_eip=m.state.eip, detail="IRQ 0", external=True)
    assert m.state.seg[1].selector == KCODE and not m.state.eflags & 0x200      # ring 0, IF cleared
    run(m)
    eip, cs, eflags, esp, ss = frame(m)[:5]
    assert (eip, cs, eflags & 0x200, esp, ss) == (m.labels["spin"], UCODE, 0x200, RING3_STACK, UDATA)
    assert handler_state(m)[0] == RING0_STACK - 20


def test_far_call_and_jump_through_memory_pointers(engine):
    kernel = """
    mov ebp, esp
    .byte 0xff, 0x1d              ; call far [call_pointer] (m16:32)
    .long call_pointer
    sub ebp, esp                  ; 0: retf popped what the call pushed
    mov esi, ebp
    .byte 0xff, 0x2d              ; jmp far [jump_pointer]
    .long jump_pointer
    hlt
call_pointer:
    .long far_routine
    .word 0x08
jump_pointer:
    .long landed
    .word 0x08
far_routine:
    mov edi, [esp + 4]            ; the pushed CS
    retf
landed:
"""
    m = run(ring_machine(engine, user="", kernel=kernel))
    assert (registers(m)["edi"], registers(m)["esi"]) == (KCODE, 0)
