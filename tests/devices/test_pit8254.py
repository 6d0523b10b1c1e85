"""vmm/devices/pit8254.py: counting on the virtual clock, the access modes, latches, read-back,
IRQ 0 on counter 0's period and port 0x61 (counter 2's gate and OUT)."""

import pytest

from vmm.devices.pit8254 import PortB, Pit8254, ns_after, ticks_between

CTRL = 3


@pytest.fixture
def irqs():
    return []


@pytest.fixture
def pit(clock, irqs):
    return Pit8254(clock, irq0=lambda: irqs.append(clock.now()))


def at(ticks):
    """Virtual ns at which `ticks` PIT clocks have passed since time 0."""
    return ns_after(0, ticks)


def load(pit, counter, control, count):
    pit.write(CTRL, 1, control)
    pit.write(counter, 1, count & 0xFF)
    pit.write(counter, 1, count >> 8)


def read_word(pit, counter):
    return pit.read(counter, 1) | pit.read(counter, 1) << 8


def test_tick_conversion_is_the_1193182_hz_clock():
    assert ticks_between(0, 1_000_000_000) == 1_193_182 and at(1_193_182) == 1_000_000_000
    assert ticks_between(0, at(5)) == 5 and ticks_between(0, at(5) - 1) == 4


def test_mode_0_counts_down_and_raises_out_at_terminal_count(pit, clock):
    load(pit, 2, 0xB0, 1000)                  # counter 2, LSB then MSB, mode 0
    assert read_word(pit, 2) == 1000 and not pit.counters[2].out(clock.now())
    clock.step(at(400))
    assert read_word(pit, 2) == 600
    clock.step(at(1000) - clock.now() - 1)
    assert not pit.counters[2].out(clock.now())
    clock.step(1)
    assert pit.counters[2].out(clock.now()) and read_word(pit, 2) == 0
    clock.step(at(1003) - clock.now())
    assert read_word(pit, 2) == 0xFFFD        # it keeps counting, wrapping


def test_mode_2_irq0_once_per_period_on_the_virtual_clock(pit, clock, irqs):
    load(pit, 0, 0x34, 11932)                 # 100 Hz, as Linux's periodic tick
    clock.step(at(11931))
    assert irqs == [] and read_word(pit, 0) == 1
    clock.step(at(11932) - clock.now())
    assert irqs == [at(11932)] and read_word(pit, 0) == 11932
    for period in range(2, 5):
        clock.step(at(11932 * period) - clock.now())
    assert irqs == [at(11932 * k) for k in range(1, 5)]


def test_mode_3_square_wave_counts_by_two_and_is_high_for_the_first_half(pit, clock, irqs):
    load(pit, 0, 0x36, 1000)
    out = pit.counters[0].out
    clock.step(at(100))
    assert read_word(pit, 0) == 800 and out(clock.now())
    clock.step(at(500) - clock.now())
    assert not out(clock.now()) and irqs == []
    clock.step(at(1000) - clock.now())
    assert out(clock.now()) and irqs == [at(1000)]


def test_reprogramming_counter_0_moves_the_next_interrupt(pit, clock, irqs):
    load(pit, 0, 0x34, 10000)
    clock.step(at(5000))
    load(pit, 0, 0x34, 2000)
    clock.step(at(10000) - clock.now())
    assert irqs == [ns_after(at(5000), 2000), ns_after(at(5000), 4000)]


def test_mode_4_strobe_and_mode_0_interrupt_once(pit, clock, irqs):
    load(pit, 0, 0x38, 300)                   # Linux's one-shot clock event
    clock.step(at(1000))
    assert irqs == [at(300)]
    load(pit, 0, 0x30, 100)
    clock.step(at(2000) - clock.now())
    assert len(irqs) == 2


def test_access_modes_lsb_only_and_msb_only(pit, clock):
    pit.write(CTRL, 1, 0x90)                  # counter 2, LSB only, mode 0
    pit.write(2, 1, 0x80)
    assert pit.counters[2].reload == 0x80 and pit.read(2, 1) == 0x80
    pit.write(CTRL, 1, 0xA0)                  # MSB only
    pit.write(2, 1, 0x12)
    assert pit.counters[2].reload == 0x1200 and pit.read(2, 1) == 0x12 and pit.read(2, 1) == 0x12


def test_a_count_of_zero_is_65536_and_10000_in_bcd(pit, clock):
    load(pit, 2, 0xB0, 0)
    assert pit.counters[2].reload == 0x10000 and read_word(pit, 2) == 0
    clock.step(at(1))
    assert read_word(pit, 2) == 0xFFFF
    load(pit, 1, 0x71, 0x0000)                # counter 1, BCD
    assert pit.counters[1].reload == 10000
    clock.step(at(1))
    assert read_word(pit, 1) == 0x9999


def test_bcd_count(pit, clock):
    load(pit, 2, 0xB1, 0x1234)
    clock.step(at(35))
    assert read_word(pit, 2) == 0x1199


def test_counter_latch_freezes_the_value_until_both_bytes_are_read(pit, clock):
    load(pit, 2, 0xB0, 5000)
    clock.step(at(1000))
    pit.write(CTRL, 1, 0x80)                  # latch counter 2
    clock.step(at(2000) - clock.now())
    pit.write(CTRL, 1, 0x80)                  # a second latch before reading is ignored
    assert read_word(pit, 2) == 4000 and read_word(pit, 2) == 3000


def test_read_back_status_then_count_for_several_counters(pit, clock):
    load(pit, 0, 0x34, 100)
    load(pit, 2, 0xB0, 3000)
    clock.step(at(10))
    pit.write(CTRL, 1, 0xCA)                  # read-back: count and status of counters 0 and 2
    clock.step(at(20) - clock.now())
    assert pit.read(0, 1) == 0x34             # OUT 0 (mode 2 between periods), LSB/MSB, mode 2
    assert read_word(pit, 0) == 90
    assert pit.read(2, 1) == 0x30 and read_word(pit, 2) == 2990
    pit.write(CTRL, 1, 0xE8)                  # status only of counter 2
    assert pit.read(2, 1) == 0x30 and read_word(pit, 2) == 2980   # then live reads again
    clock.step(at(3000) - clock.now())
    pit.write(CTRL, 1, 0xD8)                  # count only
    assert read_word(pit, 2) == 0


def test_control_word_sets_out_to_the_mode_initial_level(pit, clock):
    pit.write(CTRL, 1, 0xB0)
    pit.write(CTRL, 1, 0xE8)
    assert pit.read(2, 1) == 0x30             # mode 0: OUT low until a count is written
    pit.write(CTRL, 1, 0xB6)
    pit.write(CTRL, 1, 0xE8)
    assert pit.read(2, 1) == 0xB6             # mode 3: OUT high


def test_port_61_gate_speaker_out2_and_refresh(pit, clock):
    port = PortB(pit, clock)
    assert port.read(0, 1) & 0x03 == 0        # gate and speaker off, as the BIOS leaves them
    port.write(0, 1, 0x01)                    # Linux's calibration: gate on, speaker off
    load(pit, 2, 0xB0, 1193)                  # mode 0, about 1 ms
    assert port.read(0, 1) & 0x23 == 0x01
    clock.step(at(1193) - clock.now() - 1)
    assert not port.read(0, 1) & 0x20
    clock.step(1)
    assert port.read(0, 1) & 0x20
    refresh = []
    for _ in range(3):
        refresh.append(port.read(0, 1) & 0x10)
        clock.step(15_085)
    assert refresh in ([0, 0x10, 0], [0x10, 0, 0x10])     # bit 4 toggles every 15.085 us
    port.write(0, 1, 0x03)
    assert port.read(0, 1) & 0x03 == 0x03


@pytest.mark.parametrize("control, resumed", [(0xB0, 690), (0xB4, 990)])
def test_low_gate_pauses_mode_0_and_its_rising_edge_restarts_mode_2(pit, clock, control, resumed):
    port = PortB(pit, clock)
    port.write(0, 1, 0x01)
    load(pit, 2, control, 1000)
    clock.step(at(300))
    port.write(0, 1, 0x00)
    clock.step(at(500) - clock.now())
    assert read_word(pit, 2) == 700 and port.read(0, 1) & 0x20 == (0x20 if control == 0xB4 else 0)
    port.write(0, 1, 0x01)                    # mode 0 resumes at 700; mode 2 starts over at 1000
    clock.step(at(510) - clock.now())
    assert read_word(pit, 2) == resumed


def test_mode_1_one_shot_waits_for_a_gate_edge(pit, clock):
    port = PortB(pit, clock)
    load(pit, 2, 0xB2, 100)
    clock.step(at(50))
    assert read_word(pit, 2) == 100 and port.read(0, 1) & 0x20
    port.write(0, 1, 0x01)
    clock.step(at(60) - clock.now())
    assert read_word(pit, 2) == 90 and not port.read(0, 1) & 0x20
    clock.step(at(150) - clock.now())
    assert port.read(0, 1) & 0x20


def test_control_register_reads_zero_as_on_qemu(pit):
    assert pit.read(CTRL, 1) == 0x00


def test_nothing_counts_until_the_guest_programs_a_counter(pit, clock, irqs):
    clock.step(1_000_000_000)
    assert irqs == [] and clock.next_deadline() is None
