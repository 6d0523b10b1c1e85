"""vmm/devices/uart16550.py: the register behaviour Linux's 8250 driver probes for, and the IRQ line."""

import io

import pytest

from vmm.devices import layout
from vmm.devices.bus import Bus
from vmm.devices.uart16550 import Uart16550

RBR = THR = DLL = 0
IER = DLM = 1
IIR = FCR = 2
LCR, MCR, LSR, MSR, SCR = 3, 4, 5, 6, 7
LOOP, OUT2 = 0x10, 0x08


class FlushRecorder(io.BytesIO):
    """A binary file that notes what had been written at each flush."""

    def __init__(self):
        super().__init__()
        self.flushed = []

    def flush(self):
        self.flushed.append(self.getvalue())


@pytest.fixture
def levels():
    return []


@pytest.fixture
def uart(levels):
    return Uart16550(out=io.BytesIO(), irq=levels.append)


def rd(uart, reg):
    return uart.read(reg, 1)


def wr(uart, reg, value):
    uart.write(reg, 1, value)


# ---- output and input --------------------------------------------------------------------------

def test_transmitted_bytes_reach_out_and_are_flushed_one_by_one():
    out = FlushRecorder()
    uart = Uart16550(out=out)
    for ch in b"hi\n":
        assert rd(uart, LSR) & 0x60 == 0x60                 # THRE and TEMT before every byte
        wr(uart, THR, ch)
    assert out.getvalue() == b"hi\n" and out.flushed == [b"h", b"hi", b"hi\n"]
    assert rd(uart, LSR) == 0x60


def test_without_out_bytes_are_discarded():
    uart = Uart16550()
    wr(uart, THR, ord("x"))
    assert rd(uart, LSR) == 0x60


def test_fed_bytes_are_read_from_rbr_in_order_with_dr(uart):
    assert not rd(uart, LSR) & 0x01
    uart.feed(b"ok")
    assert rd(uart, LSR) == 0x61
    assert (rd(uart, RBR), rd(uart, LSR), rd(uart, RBR), rd(uart, LSR)) == (ord("o"), 0x61, ord("k"), 0x60)
    assert rd(uart, RBR) == ord("k")                        # RBR holds the last byte once drained


# ---- registers Linux's autoconfig probes -------------------------------------------------------

def test_ier_keeps_only_its_low_four_bits(uart):
    for written, read_back in ((0x00, 0x00), (0x0F, 0x0F), (0xFF, 0x0F), (0x40, 0x00)):
        wr(uart, IER, written)
        assert rd(uart, IER) == read_back                   # Linux: "IER test failed" / XScale UUE probe


def test_divisor_latch_round_trip_behind_dlab(uart):
    wr(uart, IER, 0x05)
    wr(uart, LCR, 0x83)                                     # DLAB + 8N1
    wr(uart, DLL, 0x01)
    wr(uart, DLM, 0x02)
    assert (rd(uart, DLL), rd(uart, DLM), rd(uart, LCR)) == (0x01, 0x02, 0x83)
    wr(uart, LCR, 0x03)
    assert (rd(uart, IER), rd(uart, LCR)) == (0x05, 0x03)  # IER untouched by the latch writes
    assert uart.out.getvalue() == b""                       # the DLL write was not a THR write
    wr(uart, LCR, 0x80)
    assert (rd(uart, DLL), rd(uart, DLM)) == (0x01, 0x02)


def test_default_divisor_is_9600_baud(uart):
    wr(uart, LCR, 0x80)
    assert (rd(uart, DLL), rd(uart, DLM)) == (0x0C, 0x00)


def test_scratch_register(uart):
    for value in (0xA5, 0x5A, 0x00, 0xFF):
        wr(uart, SCR, value)
        assert rd(uart, SCR) == value


def test_lcr_and_mcr_read_back(uart):
    wr(uart, LCR, 0x1B)
    wr(uart, MCR, 0xEF)
    assert (rd(uart, LCR), rd(uart, MCR)) == (0x1B, 0x0F)  # MCR has five bits


def test_loopback_probe_as_linux_autoconfig_does(uart):
    assert rd(uart, MSR) & 0xF0 == 0xB0                     # a ready terminal: DCD, DSR, CTS
    wr(uart, MCR, LOOP | 0x0A)                              # loopback with RTS and OUT2
    assert rd(uart, MSR) & 0xF0 == 0x90                     # CTS and DCD, or "LSR safety check engaged"
    for mcr_bit, msr_bit in ((0x01, 0x20), (0x02, 0x10), (0x04, 0x40), (0x08, 0x80)):   # DTR RTS OUT1 OUT2
        wr(uart, MCR, LOOP | mcr_bit)
        assert rd(uart, MSR) & 0xF0 == msr_bit


def test_loopback_returns_thr_writes_through_rbr_and_sends_nothing(uart):
    wr(uart, MCR, LOOP)
    wr(uart, THR, 0x5A)
    assert rd(uart, LSR) == 0x61 and rd(uart, RBR) == 0x5A and rd(uart, LSR) == 0x60
    assert uart.out.getvalue() == b""
    wr(uart, MCR, 0)
    wr(uart, THR, 0x41)
    assert uart.out.getvalue() == b"A" and not rd(uart, LSR) & 0x01


def test_fifo_bits_in_iir_identify_a_16550a(uart):
    assert rd(uart, IIR) == 0x01
    wr(uart, FCR, 0x01)
    assert rd(uart, IIR) == 0xC1 and rd(uart, IIR) >> 6 == 3      # Linux: PORT_16550A
    wr(uart, FCR, 0x21)                                     # 64-byte FIFO request: a 16750 would show IIR bit 5
    assert rd(uart, IIR) >> 5 == 6
    wr(uart, LCR, 0xBF)                                     # EFR lives at offset 2 only on 16650s
    assert rd(uart, IIR) == 0xC1
    wr(uart, FCR, 0x00)
    assert rd(uart, IIR) == 0x01


def test_fifo_clear_and_fifo_toggle_drop_received_bytes(uart):
    uart.feed(b"ab")
    wr(uart, FCR, 0x01)                                     # enabling the FIFOs empties them
    assert not rd(uart, LSR) & 0x01
    uart.feed(b"cd")
    wr(uart, FCR, 0x01)                                     # unchanged enable bit: nothing lost
    assert rd(uart, RBR) == ord("c")
    wr(uart, FCR, 0x03)                                     # clear RX FIFO
    assert not rd(uart, LSR) & 0x01
    uart.feed(b"e")
    wr(uart, FCR, 0x00)                                     # disabling empties them too
    assert not rd(uart, LSR) & 0x01


def test_lsr_and_msr_writes_are_ignored(uart):
    wr(uart, LSR, 0x00)
    wr(uart, MSR, 0x00)
    assert (rd(uart, LSR), rd(uart, MSR)) == (0x60, 0xB0)


# ---- interrupts --------------------------------------------------------------------------------

def test_thre_interrupt_pending_then_acknowledged_by_reading_iir(uart, levels):
    wr(uart, MCR, OUT2)                                     # OUT2 connects the line to the PIC on a PC
    wr(uart, IER, 0x02)
    assert levels == [True]
    assert rd(uart, IIR) == 0x02                            # THRE is the source; this read acknowledges it
    assert rd(uart, IIR) == 0x01 and levels == [True, False]


def test_thr_write_re_raises_thre_as_the_instant_transmission_empties_thr(uart, levels):
    wr(uart, MCR, OUT2)
    wr(uart, IER, 0x02)
    rd(uart, IIR)
    wr(uart, THR, ord("x"))
    assert rd(uart, IIR) == 0x02 and levels == [True, False, True, False]


def test_setting_ier_thri_again_re_raises_thre(uart):
    wr(uart, IER, 0x02)
    rd(uart, IIR)
    wr(uart, IER, 0x02)                                     # no rising edge: stays acknowledged
    assert rd(uart, IIR) == 0x01
    wr(uart, IER, 0x00)
    wr(uart, IER, 0x02)                                     # Linux's THRE test toggles IER like this
    assert rd(uart, IIR) == 0x02


def test_received_data_outranks_thre_and_reading_rbr_clears_it(uart):
    wr(uart, IER, 0x03)
    uart.feed(b"z")
    assert rd(uart, IIR) == 0x04 and rd(uart, IIR) == 0x04  # reading IIR does not acknowledge data
    assert rd(uart, RBR) == ord("z")
    assert rd(uart, IIR) == 0x02 and rd(uart, IIR) == 0x01


def test_iir_keeps_its_fifo_bits_with_a_source(uart):
    wr(uart, FCR, 0x01)
    wr(uart, IER, 0x01)
    uart.feed(b"z")
    assert rd(uart, IIR) == 0xC4


def test_modem_status_interrupt_from_loopback_deltas(uart):
    wr(uart, MCR, LOOP)
    rd(uart, MSR)                                           # clear the deltas of entering loopback
    wr(uart, IER, 0x08)
    assert rd(uart, IIR) == 0x01
    wr(uart, MCR, LOOP | 0x02)                              # RTS -> CTS rises: DCTS
    assert rd(uart, IIR) == 0x00                            # modem status, the lowest priority
    assert rd(uart, MSR) == 0x11 and rd(uart, MSR) == 0x10  # reading MSR clears the delta
    assert rd(uart, IIR) == 0x01


def test_ring_indicator_delta_only_on_its_trailing_edge(uart):
    wr(uart, MCR, LOOP)
    rd(uart, MSR)
    wr(uart, MCR, LOOP | 0x04)                              # OUT1 -> RI rises: no TERI
    assert rd(uart, MSR) == 0x40
    wr(uart, MCR, LOOP)                                     # RI falls: TERI
    assert rd(uart, MSR) == 0x04


def test_modem_status_outranked_by_thre(uart):
    wr(uart, MCR, LOOP | 0x01)                              # entering loopback drops CTS, DCD: deltas
    wr(uart, IER, 0x0A)
    assert rd(uart, IIR) == 0x02 and rd(uart, IIR) == 0x00


def test_no_interrupt_reaches_the_pic_without_out2_or_in_loopback(uart, levels):
    wr(uart, IER, 0x02)
    assert rd(uart, IIR) == 0x02 and levels == []           # pending inside the chip, line gated off
    wr(uart, IER, 0x00)
    wr(uart, MCR, LOOP | OUT2)
    wr(uart, IER, 0x02)
    assert levels == [] and not uart.irq_level
    wr(uart, MCR, OUT2)                                     # leaving loopback opens the gate
    assert levels == [True] and uart.irq_level


def test_feed_raises_the_line_for_received_data(uart, levels):
    wr(uart, MCR, OUT2)
    wr(uart, IER, 0x01)
    uart.feed(b"ab")
    rd(uart, RBR)
    assert levels == [True]
    rd(uart, RBR)
    assert levels == [True, False]


# ---- bus access --------------------------------------------------------------------------------

def test_wide_accesses_touch_successive_registers_as_on_an_8_bit_isa_bus(uart):
    wr(uart, LCR, 0x80)
    uart.write(DLL, 2, 0x0201)
    assert (rd(uart, DLL), rd(uart, DLM)) == (0x01, 0x02)
    wr(uart, LCR, 0x03)
    wr(uart, SCR, 0x42)
    assert uart.read(SCR, 2) == 0xFF42                      # the byte past the UART floats high


def test_on_the_io_bus_at_com1(uart):
    bus = Bus("io")
    bus.register(layout.COM1_PORT, layout.UART_PORTS, uart)
    bus.write(layout.COM1_PORT, 1, ord("A"))
    assert uart.out.getvalue() == b"A" and bus.read(layout.COM1_PORT + LSR, 1) == 0x60
