"""vmm/devices/pic8259.py: the 8259A datasheet's initialisation, priority, EOI and cascade rules."""

import pytest

from vmm.devices import layout
from vmm.devices.bus import Bus
from vmm.devices.pic8259 import PicPair

MASTER, SLAVE = layout.PIC_MASTER_PORT, layout.PIC_SLAVE_PORT
EOI, READ_IRR, READ_ISR, POLL = 0x20, 0x0A, 0x0B, 0x0C


@pytest.fixture
def calls():
    return []


@pytest.fixture
def pic(calls):
    """The pair as Linux programs it: vectors 0x30 and 0x38, 8086 mode, nothing masked."""
    pic = PicPair(on_intr=lambda: calls.append("intr"))
    init(pic, icw4=0x01)
    calls.clear()
    return pic


def init(pic, icw4, master_base=0x30, slave_base=0x38):
    for chip, base, icw3 in ((pic.master, master_base, 0x04), (pic.slave, slave_base, 0x02)):
        chip.write(0, 1, 0x11)
        chip.write(1, 1, base)
        chip.write(1, 1, icw3)
        chip.write(1, 1, icw4)
        chip.write(1, 1, 0x00)


def regs(chip):
    """(IRR, ISR, IMR) read through OCW3 as a driver does."""
    chip.write(0, 1, READ_IRR)
    irr = chip.read(0, 1)
    chip.write(0, 1, READ_ISR)
    return irr, chip.read(0, 1), chip.read(1, 1)


def pulse(pic, irq):
    pic.raise_irq(irq)
    pic.lower_irq(irq)


def test_power_on_state_is_the_bios_vectors_with_everything_masked_but_the_cascade():
    pic = PicPair(on_intr=lambda: None)
    assert (pic.master.vector_base, pic.slave.vector_base) == (0x08, 0x70)
    assert regs(pic.master) == (0, 0, 0xFB) and regs(pic.slave) == (0, 0, 0xFF)
    pic.raise_irq(0)
    assert not pic.has_interrupt() and regs(pic.master)[0] == 0x01


def test_a_request_is_latched_delivered_and_put_in_service(pic, calls):
    pic.raise_irq(3)
    assert pic.has_interrupt() and calls == ["intr"] and regs(pic.master) == (0x08, 0x00, 0x00)
    assert pic.acknowledge() == 0x33
    assert not pic.has_interrupt() and regs(pic.master) == (0x00, 0x08, 0x00)
    pic.master.write(0, 1, EOI)
    assert regs(pic.master) == (0, 0, 0)


def test_edge_triggering_latches_a_rising_edge_once(pic):
    pic.raise_irq(5)
    assert pic.acknowledge() == 0x35
    pic.master.write(0, 1, EOI)
    pic.raise_irq(5)                          # still high: no new edge
    assert not pic.has_interrupt()
    pulse(pic, 5)
    pic.raise_irq(5)                          # low then high again: a new request
    assert pic.has_interrupt() and pic.acknowledge() == 0x35


def test_a_pulse_stays_latched_after_the_line_falls(pic):
    pulse(pic, 4)
    assert pic.has_interrupt() and pic.acknowledge() == 0x34


def test_masked_requests_wait_in_irr_and_unmasking_delivers_them(pic, calls):
    pic.master.write(1, 1, 0x10)
    pulse(pic, 4)
    assert not pic.has_interrupt() and calls == [] and regs(pic.master) == (0x10, 0, 0x10)
    pic.master.write(1, 1, 0x00)
    assert pic.has_interrupt() and calls == ["intr"] and pic.acknowledge() == 0x34


def test_fixed_priority_lower_numbers_first_and_nesting_only_for_higher_ones(pic):
    for irq in (5, 3):
        pulse(pic, irq)
    assert pic.acknowledge() == 0x33
    assert not pic.has_interrupt()            # 5 waits behind 3 in service
    pulse(pic, 1)
    assert pic.acknowledge() == 0x31          # 1 outranks 3: nested
    assert regs(pic.master) == (0x20, 0x0A, 0)
    pic.master.write(0, 1, EOI)               # non-specific: the highest in service, 1
    assert regs(pic.master)[1] == 0x08 and not pic.has_interrupt()
    pic.master.write(0, 1, EOI)
    assert pic.acknowledge() == 0x35


def test_specific_eoi_clears_the_named_level(pic):
    for irq in (6, 1):
        pulse(pic, irq)
    pic.acknowledge()
    pic.master.write(0, 1, EOI)
    pic.acknowledge()
    pulse(pic, 0)
    pic.acknowledge()
    assert regs(pic.master)[1] == 0x41
    pic.master.write(0, 1, 0x66)              # specific EOI for 6, though 0 is higher
    assert regs(pic.master)[1] == 0x01


def test_rotate_on_non_specific_eoi_makes_the_served_level_the_lowest(pic):
    pulse(pic, 3)
    assert pic.acknowledge() == 0x33
    pic.master.write(0, 1, 0xA0)              # rotate on non-specific EOI: 3 becomes lowest
    for irq in (3, 4):
        pulse(pic, irq)
    assert pic.acknowledge() == 0x34          # 4 now has the highest priority
    pic.master.write(0, 1, 0xC7)              # set priority: 7 lowest, so 0 highest again
    pic.master.write(0, 1, EOI)
    assert pic.acknowledge() == 0x33


def test_auto_eoi_leaves_isr_clear(calls):
    pic = PicPair(on_intr=lambda: None)
    init(pic, icw4=0x03)
    pulse(pic, 3)
    assert pic.acknowledge() == 0x33 and regs(pic.master)[1] == 0
    pulse(pic, 5)
    assert pic.acknowledge() == 0x35          # nothing in service blocks it
    pic.master.write(0, 1, 0x80)              # rotate in auto-EOI mode: a served level goes last
    pulse(pic, 3)
    assert pic.acknowledge() == 0x33
    for irq in (3, 5):
        pulse(pic, irq)
    assert pic.acknowledge() == 0x35 and pic.acknowledge() == 0x33


def test_special_mask_mode_lets_lower_levels_through_a_masked_in_service_level(pic):
    pulse(pic, 1)
    pic.acknowledge()
    pulse(pic, 5)
    assert not pic.has_interrupt()
    pic.master.write(1, 1, 0x02)              # mask 1 (in service) ...
    pic.master.write(0, 1, 0x68)              # ... and set special mask mode
    assert pic.has_interrupt() and pic.acknowledge() == 0x35
    pic.master.write(0, 1, 0x48)              # reset special mask mode
    assert regs(pic.master)[1] == 0x22


def test_poll_returns_the_winner_and_puts_it_in_service(pic):
    pulse(pic, 6)
    pic.master.write(0, 1, POLL)
    assert pic.master.read(0, 1) == 0x86 and regs(pic.master)[1] == 0x40
    pic.master.write(0, 1, POLL)
    assert pic.master.read(0, 1) == 0x00      # nothing pending
    assert pic.master.read(0, 1) == 0x40      # one poll per OCW3: back to the ISR select


def test_cascade_through_master_input_2(pic):
    pulse(pic, 10)
    assert regs(pic.slave)[0] == 0x04 and regs(pic.master)[0] == 0x04 and pic.has_interrupt()
    assert pic.acknowledge() == 0x3A
    assert regs(pic.slave)[1] == 0x04 and regs(pic.master)[1] == 0x04
    pic.slave.write(0, 1, EOI)
    pic.master.write(0, 1, EOI)
    assert regs(pic.slave)[:2] == (0, 0) and regs(pic.master)[:2] == (0, 0)


def test_slave_request_waits_while_master_input_2_is_in_service_unless_fully_nested(pic):
    pulse(pic, 12)
    pic.acknowledge()
    pulse(pic, 8)                             # higher than 12 on the slave
    assert not pic.has_interrupt()            # the master's 2 is in service
    nested = PicPair(on_intr=lambda: None)
    init(nested, icw4=0x11)                   # special fully nested mode
    pulse(nested, 12)
    nested.acknowledge()
    pulse(nested, 8)
    assert nested.has_interrupt() and nested.acknowledge() == 0x38


def test_isa_irq_2_arrives_as_irq_9_on_an_at(pic):
    pulse(pic, 2)
    assert pic.acknowledge() == 0x39


def test_spurious_master_interrupt_is_vector_7_without_isr(pic):
    pulse(pic, 5)
    assert pic.has_interrupt()
    pic.master.write(1, 1, 0x20)              # the request goes away before INTA
    assert pic.acknowledge() == 0x37 and regs(pic.master)[:2] == (0x20, 0)


def test_spurious_slave_interrupt_is_irq_15_and_the_master_serves_its_input_2(pic):
    pulse(pic, 11)
    pic.slave.write(1, 1, 0x08)
    assert pic.acknowledge() == 0x3F
    assert regs(pic.slave)[1] == 0 and regs(pic.master)[1] == 0x04


def test_level_triggered_irr_follows_the_line(pic):
    pic.master.write(0, 1, 0x19)              # ICW1 with LTIM
    for value in (0x30, 0x04, 0x01, 0x00):
        pic.master.write(1, 1, value)
    pic.raise_irq(3)
    assert pic.acknowledge() == 0x33 and regs(pic.master)[0] == 0x08     # still requested
    pic.lower_irq(3)
    assert regs(pic.master)[0] == 0


def test_icw1_resets_mask_service_and_edge_memory(pic):
    pic.master.write(1, 1, 0xF0)
    pulse(pic, 1)
    pic.acknowledge()
    pic.raise_irq(4)
    pic.master.write(0, 1, 0x11)
    assert regs(pic.master) == (0, 0, 0)     # IRR, ISR and IMR cleared by ICW1
    for value in (0x20, 0x04, 0x01):
        pic.master.write(1, 1, value)
    assert regs(pic.master) == (0, 0, 0) and pic.master.vector_base == 0x20
    pic.raise_irq(4)                          # the line was high: the reset edge detector sees it rise
    assert pic.acknowledge() == 0x24


def test_single_mode_without_icw4_skips_icw3_and_icw4():
    pic = PicPair(on_intr=lambda: None)
    pic.master.write(0, 1, 0x12)              # single, no ICW4
    pic.master.write(1, 1, 0x40)              # ICW2
    pic.master.write(1, 1, 0xFE)              # already OCW1
    assert pic.master.vector_base == 0x40 and regs(pic.master)[2] == 0xFE


def test_on_the_io_bus_and_irq_numbers_are_checked(pic):
    bus = Bus("io")
    bus.register(MASTER, layout.PIC_PORTS, pic.master)
    bus.register(SLAVE, layout.PIC_PORTS, pic.slave)
    bus.write(0x21, 1, 0x5A)
    bus.write(0xA1, 1, 0xA5)
    assert (bus.read(0x21, 1), bus.read(0xA1, 1)) == (0x5A, 0xA5)
    with pytest.raises(ValueError, match="IRQ 16"):
        pic.raise_irq(16)


@pytest.mark.parametrize("change, simple", [
    (lambda chip: None, True),                                    # operating, as Linux leaves it
    (lambda chip: chip.write(0, 1, 0x68), False),                 # OCW3: special mask mode on
    (lambda chip: chip.write(0, 1, 0xC3), False),                 # OCW2 set priority: IR3 lowest
    (lambda chip: chip.write(0, 1, 0x11), False),                 # ICW1: waiting for ICW2-4
    (lambda chip: chip.write(0, 1, POLL), False),                 # a poll is pending...
    (lambda chip: (chip.write(0, 1, POLL), chip.read(0, 1)), True),     # ...until the read
])
def test_simple_says_when_a_native_fast_path_may_write_the_chip(pic, change, simple):
    change(pic.master)
    assert pic.master.regs.simple == simple


def test_auto_eoi_and_a_port_hook_are_not_simple(pic):
    init(pic, icw4=0x03)                                          # 8086 mode, auto-EOI
    assert not pic.master.regs.simple
    init(pic, icw4=0x01)
    assert pic.master.regs.simple
    pic.master.native = False
    pic.master.settle()
    assert not pic.master.regs.simple


def test_registers_are_the_native_structure(pic):
    pic.raise_irq(3)
    pic.acknowledge()
    pic.raise_irq(5)
    pic.master.write(1, 1, 0x80)
    r = pic.master.regs
    assert (r.irr, r.isr, r.imr, r.lines, r.vector_base, r.level) == (0x20, 0x08, 0x80, 0x28, 0x30, 0)
