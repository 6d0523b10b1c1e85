"""vmm's 16550 against QEMU's serial device: one register sequence, the same values read back.

A guest booted under qemu-system-i386 performs the writes and reads of SEQUENCE on COM1,
stores what it reads, then prints it; the same sequence is replayed on vmm's Uart16550 directly.
The sequence is Linux's 8250 probe (IER test, loopback check, FIFO identification, THRE test)
plus the other register behaviour both models share.  Left out, because the models differ on
purpose: MSR delta bits (QEMU has none in loopback; masked off below), FIFO-mode receive
interrupts (QEMU waits for a character timeout), and receiver overruns (vmm's queue has none).
"""

import io

from tests.boot.qemuguest import guest_image, run_in_qemu
from vmm.devices.uart16550 import Uart16550

RBR = THR = DLL = 0
IER = DLM = 1
IIR = FCR = 2
LCR, MCR, LSR, MSR, SCR = 3, 4, 5, 6, 7


def w(reg, value):
    return reg, value, None


def r(reg, mask=0xFF):
    return reg, None, mask


SEQUENCE = [
    # A known state whatever the firmware left behind.
    w(LCR, 0x03), w(IER, 0x00), w(MCR, 0x00), w(FCR, 0x00), r(IIR), r(LSR), r(MSR, 0xF0),
    # IER keeps four bits.
    w(IER, 0x0F), r(IER), w(IER, 0xFF), r(IER), w(IER, 0x00), r(IER),
    # Scratch, LCR and MCR read back.
    w(SCR, 0xA5), r(SCR), w(SCR, 0x5A), r(SCR), w(LCR, 0x1B), r(LCR), w(LCR, 0x03),
    # The divisor latch behind DLAB; offset 2 is still IIR.
    w(LCR, 0x83), w(DLL, 0x01), w(DLM, 0x02), r(DLL), r(DLM), r(IIR), r(LCR), w(LCR, 0x03), r(IER),
    # Linux's loopback check and the MCR -> MSR wiring.
    w(MCR, 0x1A), r(MSR, 0xF0), w(MCR, 0x1F), r(MSR, 0xF0), w(MCR, 0x10), r(MSR, 0xF0),
    w(MCR, 0x11), r(MSR, 0xF0), w(MCR, 0x14), r(MSR, 0xF0), w(MCR, 0xFF), r(MCR),
    # Loopback data: THR -> RBR, DR in LSR.
    w(MCR, 0x10), r(LSR), w(THR, 0x5A), r(LSR), r(RBR), r(LSR),
    # FIFO identification: 16550A, not a 16750 nor a 16650 (EFR).
    w(FCR, 0x01), r(IIR), w(FCR, 0x21), r(IIR), w(LCR, 0xBF), r(IIR), w(LCR, 0x03), w(FCR, 0x00), r(IIR),
    # THRE interrupt: raised by IER, acknowledged by IIR, raised again by IER toggle and THR write.
    w(IER, 0x02), r(IIR), r(IIR), w(IER, 0x00), w(IER, 0x02), r(IIR), r(IIR),
    w(THR, 0x33), r(IIR), r(IIR), r(RBR),
    w(THR, 0x44), w(IER, 0x03), r(IIR), r(RBR), r(IIR), r(IIR), r(LSR),
    w(IER, 0x00), w(MCR, 0x00), r(LSR), r(MSR, 0xF0),
]

RESULTS = 0x200000


def sequence_asm():
    lines = [f"mov edi, {RESULTS:#x}"]
    for reg, value, mask in SEQUENCE:
        lines.append(f"mov dx, {0x3F8 + reg:#x}")
        if value is None:
            lines += ["in al, dx", f"and al, {mask:#x}", "stosb"]
        else:
            lines += [f"mov al, {value:#x}", "out dx, al"]
    reads = sum(value is None for _, value, _ in SEQUENCE)
    lines += [f"mov esi, {RESULTS:#x}", f"mov ecx, {reads}",
              "report:", "movzx eax, byte ptr [esi]", "call hex32", "inc esi", "loop report", "jmp done"]
    return "\n".join(lines)


def replay():
    uart = Uart16550(out=io.BytesIO())
    read = []
    for reg, value, mask in SEQUENCE:
        if value is None:
            read.append(uart.read(reg, 1) & mask)
        else:
            uart.write(reg, 1, value)
    assert uart.out.getvalue() == b""           # every THR write above is in loopback
    return read


def test_register_sequence_reads_what_qemu_reads(tmp_path):
    printed = [int(word, 16) for word in run_in_qemu(guest_image(sequence_asm()), tmp_path).split()]
    assert replay() == printed
