"""vmm/devices/cmos.py: the RTC's time, formats and status registers, and the BIOS's CMOS bytes."""

import calendar

import pytest

from vmm.devices.cmos import Cmos, DEFAULT_START

NS = 1_000_000_000


@pytest.fixture
def pulses():
    return []


@pytest.fixture
def cmos(clock, pulses):
    return Cmos(clock, ram_bytes=128 << 20, irq=lambda: pulses.append(clock.now()))


def rd(cmos, reg):
    cmos.write(0, 1, reg)
    return cmos.read(1, 1)


def wr(cmos, reg, value):
    cmos.write(0, 1, reg)
    cmos.write(1, 1, value)


def date(cmos):
    """(century, year, month, day, weekday, hour, minute, second) as the registers read."""
    return tuple(rd(cmos, reg) for reg in (0x32, 9, 8, 7, 6, 4, 2, 0))


def test_default_start_is_a_fixed_date_in_bcd_24_hour(cmos, clock):
    assert DEFAULT_START == calendar.timegm((2026, 1, 1, 0, 0, 0))
    assert date(cmos) == (0x20, 0x26, 0x01, 0x01, 0x05, 0x00, 0x00, 0x00)   # Thursday is day 5
    clock.step(61 * NS + 500)
    assert date(cmos)[5:] == (0x00, 0x01, 0x01)


def test_time_follows_the_virtual_clock_across_days_and_years(clock):
    cmos = Cmos(clock, ram_bytes=16 << 20, start=calendar.timegm((2099, 12, 31, 23, 59, 58)))
    assert date(cmos) == (0x20, 0x99, 0x12, 0x31, 0x05, 0x23, 0x59, 0x58)
    clock.step(3 * NS)
    assert date(cmos) == (0x21, 0x00, 0x01, 0x01, 0x06, 0x00, 0x00, 0x01)


def test_binary_and_12_hour_formats_per_status_b(clock):
    cmos = Cmos(clock, ram_bytes=16 << 20, start=calendar.timegm((2026, 3, 4, 15, 7, 9)))
    wr(cmos, 0x0B, 0x06)                       # binary, 24 h
    assert date(cmos) == (20, 26, 3, 4, 4, 15, 7, 9)
    wr(cmos, 0x0B, 0x04)                       # binary, 12 h: 3 PM
    assert rd(cmos, 4) == 0x83
    wr(cmos, 0x0B, 0x00)                       # BCD, 12 h
    assert rd(cmos, 4) == 0x83
    clock.step((8 * 3600 - 7 * 60 - 9) * NS)   # 23:00:00
    assert rd(cmos, 4) == 0x91
    clock.step(3600 * NS)
    assert rd(cmos, 4) == 0x12                 # midnight reads 12 AM
    clock.step(12 * 3600 * NS)
    assert rd(cmos, 4) == 0x92                 # noon reads 12 PM


def test_setting_the_clock_with_set_holds_then_restarts_from_the_written_time(cmos, clock):
    wr(cmos, 0x0B, 0x82)                       # SET, 24 h, BCD
    for reg, value in ((9, 0x30), (8, 0x06), (7, 0x15), (4, 0x12), (2, 0x34), (0, 0x56)):
        wr(cmos, reg, value)
    clock.step(5 * NS)
    assert date(cmos)[1:] == (0x30, 0x06, 0x15, 0x05, 0x12, 0x34, 0x56) and rd(cmos, 0x0B) == 0x82
    wr(cmos, 0x0B, 0x02)
    clock.step(2 * NS)
    assert date(cmos)[1:] == (0x30, 0x06, 0x15, 0x07, 0x12, 0x34, 0x58)   # a Saturday


def test_a_write_of_a_date_that_does_not_exist_leaves_the_clock(cmos):
    before = date(cmos)
    wr(cmos, 8, 0x13)                          # month 13
    assert date(cmos) == before


def test_status_registers_as_the_bios_leaves_them(cmos):
    assert [rd(cmos, r) for r in (0x0A, 0x0B, 0x0C, 0x0D)] == [0x26, 0x02, 0x00, 0x80]
    wr(cmos, 0x0C, 0xFF)
    wr(cmos, 0x0D, 0x00)
    assert (rd(cmos, 0x0C), rd(cmos, 0x0D)) == (0x00, 0x80)   # read only


def test_uip_is_set_only_in_the_last_244_us_of_each_second(cmos, clock):
    clock.step(NS - 244_001)
    assert not rd(cmos, 0x0A) & 0x80
    clock.step(1)
    assert rd(cmos, 0x0A) == 0xA6
    clock.step(244_000)
    assert rd(cmos, 0x0A) == 0x26 and rd(cmos, 0) == 0x01
    clock.step(NS - 100_000)
    wr(cmos, 0x0B, 0x82)                       # SET: no updates, no UIP
    assert rd(cmos, 0x0A) == 0x26


def test_status_c_flags_accumulate_and_clear_on_read(cmos, clock):
    clock.step(2_000_000)                      # 2 ms: no PF without PIE (QEMU), no update yet
    assert rd(cmos, 0x0C) == 0x00
    clock.step(NS)
    assert rd(cmos, 0x0C) == 0x10 and rd(cmos, 0x0C) == 0x00     # UF, and no IRQF without UIE


def test_periodic_interrupt_pulses_irq_8_until_c_is_read(cmos, clock, pulses):
    wr(cmos, 0x0A, 0x2F)                       # rate 15: 2 Hz
    wr(cmos, 0x0B, 0x42)                       # PIE
    clock.step(NS)
    assert pulses == [NS // 2]                 # the second period waits for C to be read
    assert rd(cmos, 0x0C) == 0xD0              # PF and, a second on, UF
    clock.step(NS // 2)
    assert pulses == [NS // 2, 3 * NS // 2]


def test_update_ended_and_alarm_interrupts(cmos, clock, pulses):
    wr(cmos, 0x01, 0x03)                       # alarm at hh:mm:03 with hours and minutes "don't care"
    wr(cmos, 0x03, 0xC0)
    wr(cmos, 0x05, 0xC0)
    wr(cmos, 0x0B, 0x32)                       # AIE and UIE
    clock.step(NS)
    assert pulses == [NS] and rd(cmos, 0x0C) == 0x90
    clock.step(2 * NS)
    assert pulses == [NS, 2 * NS]              # no pulse at 3 s: C still held the one at 2 s
    assert rd(cmos, 0x0C) == 0xB0              # UF, and AF at hh:mm:03


def test_enabling_an_interrupt_whose_flag_is_already_set_interrupts_at_once(cmos, clock, pulses):
    clock.step(NS)                             # UF latched with UIE off: no IRQF, no pulse
    assert pulses == []
    wr(cmos, 0x0B, 0x12)
    assert pulses == [NS] and rd(cmos, 0x0C) == 0x90
    wr(cmos, 0x0B, 0x02)
    clock.step(NS)
    wr(cmos, 0x0B, 0x12)
    wr(cmos, 0x0B, 0x02)                       # disabling it again clears IRQF
    assert rd(cmos, 0x0C) == 0x10


def test_setting_set_clears_uie(cmos):
    wr(cmos, 0x0B, 0x92)
    assert rd(cmos, 0x0B) == 0x82


def test_nvram_memory_sizes_equipment_and_century():
    from vmm.devices.clock import VirtualClock
    from types import SimpleNamespace
    clock = VirtualClock(SimpleNamespace(tsc=0, icount=0))
    small, large = Cmos(clock, ram_bytes=16 << 20), Cmos(clock, ram_bytes=128 << 20)
    regs = (0x14, 0x15, 0x16, 0x17, 0x18, 0x30, 0x31, 0x34, 0x35, 0x32, 0x37)
    assert [rd(small, r) for r in regs] == [0x06, 0x80, 0x02, 0x00, 0x3C, 0x00, 0x3C, 0x00, 0x00, 0x20, 0x20]
    assert [rd(large, r) for r in regs] == [0x06, 0x80, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x07, 0x20, 0x20]


def test_nvram_is_ram_and_the_index_keeps_seven_bits_plus_the_nmi_mask(cmos):
    wr(cmos, 0x40, 0x5A)
    assert rd(cmos, 0x40) == 0x5A
    cmos.write(0, 1, 0xC0)                     # NMI off, index 0x40
    assert cmos.read(1, 1) == 0x5A and cmos.nmi_disabled
    assert cmos.read(0, 1) == 0xFF             # the index port reads all ones
