"""vmm/devices/uart16550.py: the register behaviour Linux's 8250 driver probes for."""

import io

from vmm.devices.uart16550 import Uart16550

RBR, IER, IIR, LCR, MCR, LSR, MSR, SCR = 0, 1, 2, 3, 4, 5, 6, 7


def test_output_reaches_out():
    out = io.BytesIO()
    uart = Uart16550(out=out)
    for ch in b"hi\n":
        assert uart.read(LSR, 1) & 0x20               # THRE before every byte
        uart.write(RBR, 1, ch)
    assert out.getvalue() == b"hi\n" and uart.read(LSR, 1) & 0x60 == 0x60


def test_divisor_latch_round_trip():
    uart = Uart16550()
    uart.write(LCR, 1, 0x83)
    uart.write(0, 1, 0x01)
    uart.write(1, 1, 0x02)
    assert (uart.read(0, 1), uart.read(1, 1)) == (0x01, 0x02)
    uart.write(LCR, 1, 0x03)
    assert uart.read(IER, 1) == 0 and uart.read(LCR, 1) == 0x03


def test_scratch_register():
    uart = Uart16550()
    for value in (0xA5, 0x5A):
        uart.write(SCR, 1, value)
        assert uart.read(SCR, 1) == value


def test_loopback_probe_as_linux_does():
    out = io.BytesIO()
    uart = Uart16550(out=out)
    uart.write(MCR, 1, 0x10)                          # loopback, all outputs off
    assert uart.read(MSR, 1) & 0xF0 == 0
    uart.write(MCR, 1, 0x1F)                          # loopback with DTR RTS OUT1 OUT2
    assert uart.read(MSR, 1) & 0xF0 == 0xF0
    uart.write(RBR, 1, 0x42)
    assert uart.read(LSR, 1) & 1 and uart.read(RBR, 1) == 0x42
    assert out.getvalue() == b""                      # nothing leaves in loopback


def test_fifo_bits_in_iir():
    uart = Uart16550()
    assert uart.read(IIR, 1) & 0xC0 == 0
    uart.write(IIR, 1, 0x07)                          # FCR: enable and clear FIFOs
    assert uart.read(IIR, 1) & 0xC0 == 0xC0


def test_thre_interrupt_raised_and_acknowledged():
    levels = []
    uart = Uart16550(irq=levels.append)
    uart.write(MCR, 1, 0x08)                          # OUT2 gates the line on a PC
    uart.write(IER, 1, 0x02)
    assert uart.read(IIR, 1) & 0x0F == 0x02           # THRE pending; reading IIR acknowledges
    assert uart.read(IIR, 1) & 0x0F == 0x01
    assert levels == [True, False]


def test_received_bytes():
    uart = Uart16550()
    uart.feed(b"ok")
    assert uart.read(LSR, 1) & 1
    assert bytes([uart.read(RBR, 1), uart.read(RBR, 1)]) == b"ok"
    assert not uart.read(LSR, 1) & 1
