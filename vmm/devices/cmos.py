"""The MC146818 real-time clock and its CMOS RAM at ports 0x70 (index) and 0x71 (data).

The time of day is the start time (a fixed date by default, so runs are deterministic)
plus the guest time of the virtual clock; a guest that sets the clock moves that offset.
Registers 0-9 read the time in BCD or binary and 12- or 24-hour form as status register B
says (DM, 24/12).  Status A: UIP is set for the last 244 us of every second while the
oscillator runs (divider 010) and SET is clear, so a guest that waits for UIP to clear
always sees it clear soon; writing A's divider and rate works.  Status B: SET stops
updates (the registers keep what the guest writes until SET is cleared, and setting SET
clears UIE), PIE/AIE/UIE enable IRQ 8.  Status C (read clears it): PF (periodic, at A's
rate; only while PIE is set, as on QEMU), AF (alarm), UF (update ended, once a second),
and IRQF, set while a flag's interrupt is enabled.  Status D: VRT, always 1.

Interrupt flags are worked out from the time elapsed since C was last read, so a guest that
polls them sees them without any timer; a virtual-clock timer runs only while an enable bit
is set, to raise IRQ 8 (`irq()` pulses it).  Alarm fields of 0xC0-0xFF match any value; the
alarm is compared with the time when the flags are worked out (each second while AIE is
on).  The weekday register follows from the date; the century byte 0x32 is part of it.

The other bytes of the 128-byte CMOS are RAM, initialised as a PC BIOS (SeaBIOS on QEMU)
leaves them: base memory 640 KiB (0x15/0x16), extended memory above 1 MiB in KiB
(0x17/0x18 and 0x30/0x31, at most 65535), memory above 16 MiB in 64 KiB units (0x34/0x35),
the equipment byte (0x14: FPU, PS/2 mouse, no floppy, VGA), and the century (0x32, which
the clock keeps, and its PS/2 copy at 0x37, set at power-on).  Like QEMU's, this CMOS has no
checksum at 0x2E/0x2F.  Bit 7 of the index port is the NMI mask (kept in
`nmi_disabled`); the index port itself reads all ones, as on QEMU.

Example:
    cmos = Cmos(machine.clock, ram_bytes=machine.memory.size, irq=lambda: pic_pulse(8))
    bus.register(0x70, 2, cmos)
    cmos.write(0, 1, 0x04); cmos.read(1, 1)        # the hour, in BCD
"""

import calendar
import time

from . import layout
from .bus import Device

NS_PER_S = 1_000_000_000
DEFAULT_START = calendar.timegm((2026, 1, 1, 0, 0, 0))   # 2026-01-01 00:00:00 UTC, a Thursday

SECONDS, SECONDS_ALARM, MINUTES, MINUTES_ALARM, HOURS, HOURS_ALARM = range(6)
WEEKDAY, DAY, MONTH, YEAR = 6, 7, 8, 9
REG_A, REG_B, REG_C, REG_D = 0x0A, 0x0B, 0x0C, 0x0D
CENTURY = 0x32
TIME_REGS = (SECONDS, MINUTES, HOURS, WEEKDAY, DAY, MONTH, YEAR, CENTURY)

A_UIP, A_DIVIDER, A_RATE = 0x80, 0x70, 0x0F
DIVIDER_NORMAL = 0x20                      # 32.768 kHz time base, oscillator running
B_SET, B_PIE, B_AIE, B_UIE, B_DM, B_24H = 0x80, 0x40, 0x20, 0x10, 0x04, 0x02
C_IRQF, C_PF, C_AF, C_UF = 0x80, 0x40, 0x20, 0x10
D_VRT = 0x80
UIP_NS = 244_000                           # the update cycle's warning time
HOUR_PM = 0x80
NMI_DISABLE = 0x80                         # bit 7 of the index port

BIOS_BYTES = {0x0F: 0x00, 0x10: 0x00, 0x12: 0x00, 0x14: 0x06}     # shutdown, drives, equipment
PS2_CENTURY = 0x37


class Cmos(Device):
    """The RTC and CMOS RAM (module docstring).  `start` is the time of day at power-on,
    in seconds since 1970 (UTC)."""

    def __init__(self, clock, ram_bytes, irq=None, start=DEFAULT_START):
        self.clock = clock
        self.irq = irq
        self.ram = bytearray(layout.CMOS_BYTES)
        self.index = 0
        self.nmi_disabled = False
        self.ram[REG_A] = DIVIDER_NORMAL | 0x06   # 1024 Hz periodic rate, as the BIOS sets it
        self.ram[REG_B] = B_24H                   # BCD, 24-hour
        self.ram[REG_D] = D_VRT
        self.base_ns = start * NS_PER_S           # time of day = base_ns + clock.now()
        self.held = None                          # the time fields while SET stops updates
        self.flags = 0                            # C's flags latched so far
        self.flags_since = clock.now()            # C's flags are worked out from here on
        self.timer = clock.timer(self._refresh)
        self._bios_bytes(ram_bytes)

    def _bios_bytes(self, ram_bytes):
        ram = self.ram
        for reg, value in BIOS_BYTES.items():
            ram[reg] = value
        extended_kib = min(max(ram_bytes // 1024 - 1024, 0), 0xFFFF)
        above_16m = min(max(ram_bytes - (16 << 20), 0) >> 16, 0xFFFF)
        for reg, value in ((0x15, 640), (0x17, extended_kib), (0x30, extended_kib), (0x34, above_16m)):
            ram[reg], ram[reg + 1] = value & 0xFF, value >> 8
        ram[PS2_CENTURY] = self._encode(CENTURY, self._fields()[CENTURY])

    # ---- time ---------------------------------------------------------------------------
    def now_ns(self):
        """Nanoseconds since 1970 on the guest's clock."""
        return self.base_ns + self.clock.now()

    def _fields(self):
        """Register -> binary value for the time registers (the hour in 24-hour form)."""
        if self.held is not None:
            return dict(self.held)
        tm = time.gmtime(self.now_ns() // NS_PER_S)
        return {SECONDS: tm.tm_sec, MINUTES: tm.tm_min, HOURS: tm.tm_hour,
                WEEKDAY: (tm.tm_wday + 1) % 7 + 1, DAY: tm.tm_mday, MONTH: tm.tm_mon,
                YEAR: tm.tm_year % 100, CENTURY: tm.tm_year // 100}

    def _set_fields(self, fields):
        """Move the clock so that now is `fields` (keeping the fraction of the second); a date
        that does not exist (month 13, year 10000) leaves the clock as it was."""
        try:
            seconds = calendar.timegm((fields[CENTURY] * 100 + fields[YEAR], fields[MONTH], fields[DAY],
                                       fields[HOURS], fields[MINUTES], fields[SECONDS]))
        except (ValueError, OverflowError):
            return
        self.base_ns += (seconds - self.now_ns() // NS_PER_S) * NS_PER_S

    def _encode(self, reg, value):
        b = self.ram[REG_B]
        pm = 0
        if reg == HOURS and not b & B_24H:
            pm = HOUR_PM if value >= 12 else 0
            value = value % 12 or 12
        if not b & B_DM:
            value = (value // 10) << 4 | value % 10
        return value | pm

    def _decode(self, reg, value):
        b = self.ram[REG_B]
        pm = False
        if reg == HOURS and not b & B_24H:
            pm, value = bool(value & HOUR_PM), value & 0x7F
        if not b & B_DM:
            value = (value >> 4) * 10 + (value & 0xF)
        if reg == HOURS and not b & B_24H:
            value = value % 12 + (12 if pm else 0)
        return value

    def _uip(self):
        running = self.ram[REG_A] & A_DIVIDER == DIVIDER_NORMAL and not self.ram[REG_B] & B_SET
        return running and self.now_ns() % NS_PER_S >= NS_PER_S - UIP_NS

    # ---- interrupt flags ------------------------------------------------------------------
    def _period_ns(self):
        """The periodic interrupt's period from A's rate select, or None when it is off."""
        rate = self.ram[REG_A] & A_RATE
        if rate == 0 or self.ram[REG_A] & A_DIVIDER != DIVIDER_NORMAL:
            return None
        rate += 7 if rate <= 2 else 0                # rates 1 and 2 repeat 8 and 9
        return NS_PER_S * (1 << (rate - 1)) // 32768

    def _alarm_matches(self, fields):
        for reg, alarm in ((SECONDS, SECONDS_ALARM), (MINUTES, MINUTES_ALARM), (HOURS, HOURS_ALARM)):
            value = self.ram[alarm]
            if value & 0xC0 != 0xC0 and self._decode(reg, value) != fields[reg]:
                return False
        return True

    def _catch_up(self):
        """Latch the flags of every period, update and alarm boundary since the last look."""
        now, since = self.now_ns(), self.flags_since + self.base_ns
        self.flags_since = now - self.base_ns
        period = self._period_ns()
        enables = self.ram[REG_B] & (B_PIE | B_AIE | B_UIE)
        if period and enables & B_PIE and now // period > since // period:
            self.flags |= C_PF
        if self.held is None and now // NS_PER_S > since // NS_PER_S:
            self.flags |= C_UF
            if self._alarm_matches(self._fields()):
                self.flags |= C_AF
        # IRQF: a flag whose interrupt is enabled (the enable bits line up with the flags).
        self.flags = (self.flags & ~C_IRQF) | (C_IRQF if self.flags & enables else 0)

    def _refresh(self, irqf_before=None):
        """Catch up, pulse IRQ 8 if IRQF has just been set (it was clear at `irqf_before`, by
        default now), and arm the timer for the next interrupt."""
        before = self.flags & C_IRQF if irqf_before is None else irqf_before
        self._catch_up()
        if self.flags & C_IRQF and not before and self.irq is not None:
            self.irq()
        self._arm()

    def _arm(self):
        """Run the timer only while an interrupt is enabled and C does not already hold one."""
        enables = self.ram[REG_B] & (B_PIE | B_AIE | B_UIE)
        if not enables or self.flags & C_IRQF:
            self.timer.cancel()
            return
        now = self.now_ns()
        deadlines = []
        period = self._period_ns()
        if enables & B_PIE and period:
            deadlines.append((now // period + 1) * period)
        if enables & (B_AIE | B_UIE) and self.held is None:
            deadlines.append((now // NS_PER_S + 1) * NS_PER_S)
        if deadlines:
            self.timer.arm(min(deadlines) - self.base_ns)
        else:
            self.timer.cancel()

    # ---- ports ---------------------------------------------------------------------------
    def read(self, offset, size):
        if offset == 0:
            return 0xFF
        reg = self.index
        if reg in TIME_REGS:
            return self._encode(reg, self._fields()[reg])
        if reg == REG_A:
            return self.ram[REG_A] | (A_UIP if self._uip() else 0)
        if reg == REG_C:
            self._catch_up()
            value, self.flags = self.flags, 0
            self._arm()
            return value
        return self.ram[reg]

    def write(self, offset, size, value):
        value &= 0xFF
        if offset == 0:
            self.index, self.nmi_disabled = value & (layout.CMOS_BYTES - 1), bool(value & NMI_DISABLE)
            return
        reg = self.index
        if reg in TIME_REGS:
            fields = self._fields()
            fields[reg] = self._decode(reg, value)
            if self.held is not None:
                self.held = fields
            elif reg != WEEKDAY:                     # the weekday follows from the date
                self._set_fields(fields)
        elif reg == REG_A:
            before = self.flags & C_IRQF
            self._catch_up()                         # flags up to now come at the old rate
            self.ram[REG_A] = value & 0x7F           # UIP is read-only
            self._refresh(before)
        elif reg == REG_B:
            self._write_b(value)
        elif reg not in (REG_C, REG_D):              # C and D are read-only
            self.ram[reg] = value

    def _write_b(self, value):
        before = self.flags & C_IRQF
        self._catch_up()                             # flags up to now, under the old enables
        if value & B_SET:
            value &= ~B_UIE
            if self.held is None:
                self.held = self._fields()
        elif self.held is not None:
            held, self.held = self.held, None
            self._set_fields(held)
        self.ram[REG_B] = value
        self._refresh(before)                        # enabling a flag already set interrupts
