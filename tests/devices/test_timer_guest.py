"""A guest that sleeps on `hlt` and counts ten PIT ticks taken through the PIC and its IDT.

It programs the PIC (vectors 0x20-0x2F, only IRQ 0 unmasked) and counter 0 at 1 kHz, then
halts until its handler has counted ten ticks; the handler reads ISR (IRQ 0 in service) and
sends EOI.  It prints the count, that ISR and the number of spurious IRQ 7s: QEMU prints
10, 1, 0.  On vmm the Machine's monitor loop is the other side of the device interface
(board.py): it fires due timers, delivers what the PIC raises when IF is set, caps each
slice at the next timer deadline, and lets `hlt` skip to that deadline.
"""

import io

import pytest

from tests.asmguest import ENGINE_VARIANTS, new_machine
from tests.boot.qemuguest import guest_image, run_in_qemu
from vmm.devices.pit8254 import ns_after

from .portseq import parse

TICKS_GUEST = """
    lgdt [v_gdtr]
    mov edi, 0x3000
    mov ecx, 512
    xor eax, eax
    rep stosd
    mov ebx, 0x3000 + 0x20*8
    lea eax, [h_tick]
    call setgate
    mov ebx, 0x3000 + 0x27*8
    lea eax, [h_spur]
    call setgate
    lidt [v_idtr]
    mov al, 0x11
    out 0x20, al
    mov al, 0x20
    out 0x21, al
    mov al, 4
    out 0x21, al
    mov al, 1
    out 0x21, al
    mov al, 0xFE
    out 0x21, al
    mov al, 0x34
    out 0x43, al
    mov al, 0xA9
    out 0x40, al
    mov al, 0x04
    out 0x40, al
    sti
l_again:
    hlt
    cmp dword ptr [v_count], 10
    jb l_again
    cli
    mov eax, [v_count]
    call hex32
    mov eax, [v_isr]
    call hex32
    mov eax, [v_spur]
    call hex32
    jmp done
setgate:
    mov [ebx], ax
    mov dx, cs
    mov [ebx+2], dx
    mov word ptr [ebx+4], 0x8E00
    shr eax, 16
    mov [ebx+6], ax
    ret
h_tick:
    push eax
    mov al, 0x0B
    out 0x20, al
    in al, 0x20
    movzx eax, al
    mov [v_isr], eax
    mov al, 0x20
    out 0x20, al
    inc dword ptr [v_count]
    pop eax
    iretd
h_spur:
    inc dword ptr [v_spur]
    iretd
v_gdtr:
    .word 31
    .long v_gdt
v_gdt:
    .long 0, 0
    .long 0x0000FFFF, 0x00CF9A00
    .long 0x0000FFFF, 0x00CF9A00
    .long 0x0000FFFF, 0x00CF9200
v_idtr:
    .word 0x7FF
    .long 0x3000
v_count: .long 0
v_isr: .long 0
v_spur: .long 0
"""


@pytest.fixture(scope="module")
def image():
    return guest_image(TICKS_GUEST)


def test_qemu_counts_ten_ticks_with_irq_0_in_service(image, tmp_path):
    assert parse(run_in_qemu(image, tmp_path)) == [10, 1, 0]


@pytest.mark.parametrize("engine", ENGINE_VARIANTS)
def test_vmm_counts_the_same_ticks_in_ten_ms_of_guest_time_on_every_engine(image, tmp_path, engine):
    path = tmp_path / "ticks.elf"
    path.write_bytes(image)
    m = new_machine(engine, memory_mb=16)
    m.devices["com1"].out = serial = io.BytesIO()
    m.load(str(path))
    result = m.run(max_insns=100_000)
    assert (result.reason, result.exit_code) == ("exit", 33), result.message
    assert parse(serial.getvalue()) == [10, 1, 0]
    tenth_tick = ns_after(0, 10 * 1193)        # 1193 PIT clocks a tick, at 1 ns an instruction
    assert tenth_tick <= m.clock.now() < tenth_tick + 10_000 and m.state.icount < 2000    # hlt idles
