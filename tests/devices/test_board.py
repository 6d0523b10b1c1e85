"""vmm/board.py: the devices sit at their layout ports and interrupt through the machine's PIC."""

import pytest

from tests.asmguest import ENGINE_VARIANTS, machine_with
from tests.devices.portseq import r, run_on_vmm, w, wait
from vmm.devices import layout
from vmm.machine import Machine


@pytest.fixture
def m():
    return Machine(memory_mb=2)


def test_every_device_is_returned_by_name_and_the_pic_is_the_machines(m):
    assert set(m.devices) == {"pic", "pit", "cmos", "i8042", "pci", "com1", "debug_exit", "post", "vga"}
    assert m.pic is m.devices["pic"]


def test_uart_interrupt_reaches_the_pic_on_irq_4_only_with_out2(m):
    m.port_write(0x21, 1, 0xEF)               # unmask IRQ 4 (vector base 0x08 from the BIOS state)
    m.port_write(0x3F9, 1, 0x02)              # IER: THRE
    assert not m.pic.has_interrupt()
    m.port_write(0x3FC, 1, 0x08)              # MCR OUT2 opens the PC's interrupt buffer
    assert m.pic.has_interrupt() and m.pic.acknowledge() == 0x08 + layout.COM1_IRQ


def test_received_bytes_interrupt_on_irq_4(m):
    m.port_write(0x21, 1, 0xEF)
    m.port_write(0x3F9, 1, 0x01)
    m.port_write(0x3FC, 1, 0x08)
    assert not m.pic.has_interrupt()
    m.devices["com1"].feed(b"x")
    assert m.pic.acknowledge() == 0x0C and m.port_read(0x3FA, 1) == 0x04 and m.port_read(0x3F8, 1) == ord("x")


def test_pit_and_rtc_interrupts_arrive_on_irq_0_and_8(m):
    m.port_write(0x21, 1, 0xFA)               # unmask 0 and 2
    m.port_write(0xA1, 1, 0xFE)               # unmask 8
    for port, value in ((0x43, 0x34), (0x40, 0xA9), (0x40, 0x04)):      # 1193 clocks: 1 ms
        m.port_write(port, 1, value)
    m.clock.advance(1_000_000)
    m.clock.run_due()
    assert m.pic.acknowledge() == 0x08
    m.port_write(0x20, 1, 0x20)               # EOI, and IRQ 0 masked again
    m.port_write(0x21, 1, 0xFB)
    m.port_write(0x70, 1, 0x0B)
    m.port_write(0x71, 1, 0x42)               # PIE at the BIOS's 1024 Hz
    m.clock.advance(1_000_000)
    m.clock.run_due()
    assert m.pic.acknowledge() == 0x70


def test_keyboard_controller_bytes_raise_irq_1(m):
    m.port_write(0x21, 1, 0xFD)
    m.port_write(0x64, 1, 0x20)
    assert m.pic.acknowledge() == 0x09 and m.port_read(0x60, 1) == 0x61


@pytest.mark.parametrize("engine", ENGINE_VARIANTS)
@pytest.mark.parametrize("code, how", [("mov al, 0xfe\nout 0x64, al", "the i8042"),
                                       ("mov dx, 0xcf9\nmov al, 6\nout dx, al", "the PCI reset control register")])
def test_a_guest_reset_stops_the_run(engine, code, how):
    m = machine_with(engine, code + "\nmov eax, 1\nhlt")
    result = m.run(max_insns=1000)
    assert result.reason == "reset" and result.message == f"guest requested a reset through {how}"
    assert m.reg_read("eax") != 1


def test_unclaimed_ports_read_all_ones_and_are_logged_once(m, caplog):
    with caplog.at_level("INFO", logger="vmm.devices"):
        assert m.port_read(0x2F8, 1) == 0xFF and m.port_read(0x2F8, 1) == 0xFF
    assert len(caplog.records) == 1 and "0x2f8" in caplog.records[0].getMessage()


def test_polling_the_pit_follows_guest_time_the_same_on_every_engine(tmp_path):
    """Linux's TSC calibration loop: port reads see virtual time, which every engine keeps alike."""
    steps = [w(0x61, 0x01), w(0x43, 0xB0), w(0x42, 0x00), w(0x42, 0x01), wait(0x61, 0x20),
             w(0x43, 0x80), r(0x42), r(0x42)]
    runs = {engine: run_on_vmm(steps, tmp_path, engine) for engine in ENGINE_VARIANTS}
    reads, instructions = runs["interp"]
    assert reads[0] == 0x20 and all(run == runs["interp"] for run in runs.values())
    assert instructions > 256 * 1_000_000_000 // layout.PIT_HZ      # 256 PIT clocks of 1-ns instructions
