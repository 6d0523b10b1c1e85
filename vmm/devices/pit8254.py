"""The 8254 programmable interval timer (ports 0x40-0x43) and system control port B (0x61).

Three counters on a 1.193182 MHz clock.  Nothing ticks: a counter remembers when it began
counting on the virtual clock and works out its count and its OUT pin from the time
elapsed, so reads follow guest time exactly.  Counter 0's OUT drives IRQ 0: a virtual-clock
timer is armed for each rising edge of OUT and pulses the line (`irq0()`: the PIC latches
the edge).  Counter 2's GATE and OUT are bits 0 and 5 of port 0x61, which Linux uses to
calibrate the TSC (mode 0, poll OUT2).

Modes (control word bits 3-1; 6 and 7 are 2 and 3): 0 interrupt on terminal count,
1 hardware one-shot (started by a GATE rising edge), 2 rate generator, 3 square wave,
4 software strobe, 5 hardware strobe.  Access: LSB only, MSB only, LSB then MSB; BCD
counting.  The counter-latch command and the read-back command (count and/or status of
any counters) latch what later reads return; status is OUT, NULL COUNT (always 0, see below), access,
mode, BCD.

GATE, per the datasheet: low pauses counting in modes 0 and 4; low forces OUT high and
stops modes 2 and 3, whose rising edge restarts the count; the rising edge triggers modes
1 and 5.  Counters 0 and 1 have GATE tied high.  At power-on no counter counts: there is
no BIOS here to start counter 0 at 18.2 Hz as SeaBIOS does, so IRQ 0 stays quiet until the
guest programs the PIT.

QEMU's model is the reference where the datasheet leaves room: a new count takes effect
at once, also in modes 2 and 3 (the chip waits for the end of the current period); writing
the first byte of a two-byte count does not stop the counter; NULL COUNT always reads 0; and
OUT follows QEMU's formulas, which differ from the datasheet in modes 2, 4 and 5: high for
the one clock at the end of each period (mode 2) or when the count reaches zero (4, 5) and
low otherwise (the chip has the inverse, a one-clock low pulse).  OUT's rising edges, so
IRQ 0's timing, are the same either way.  Unlike QEMU, a low GATE holds OUT high in modes
2 and 3, as the datasheet says.

Counter 0's rising edges in modes 2 and 3 are also described natively (`tick`, PitTick: the
PIT clock edge of the armed deadline and the period), so translated code can fire that
timer itself (vmm.translator.devicepath): the next edge is `period` clocks later, at
`edge_ns` of it, exactly what `next_rising_edge` works out.

Example:
    pit = Pit8254(machine.clock, irq0=lambda: (pic.raise_irq(0), pic.lower_irq(0)))
    bus.register(0x40, 4, pit)
    bus.register(0x61, 1, PortB(pit, machine.clock))
    pit.write(3, 1, 0x34); pit.write(0, 1, 0x9C); pit.write(0, 1, 0x2E)   # 100 Hz on IRQ 0
"""

import ctypes

from . import layout
from .bus import Device

NS_PER_S = 1_000_000_000
ACCESS_LATCH, ACCESS_LSB, ACCESS_MSB, ACCESS_WORD = range(4)
READ_BACK = 3                    # select field of the read-back command
REFRESH_NS = 15_085              # port 0x61 bit 4 toggles at this period (DRAM refresh request)


def clock_edges(ns):
    """PIT input clock edges from time 0 to `ns`: the counters step on these."""
    return ns * layout.PIT_HZ // NS_PER_S


def ticks_between(start_ns, now_ns):
    """PIT clock edges after `start_ns` up to `now_ns`."""
    return clock_edges(now_ns) - clock_edges(start_ns)


def edge_ns(edge):
    """The first nanosecond by which PIT clock edge number `edge` (from time 0) has come."""
    return -(-edge * NS_PER_S // layout.PIT_HZ)


def ns_after(start_ns, ticks):
    """The first nanosecond by which `ticks` PIT clock edges have come since `start_ns`."""
    return edge_ns(clock_edges(start_ns) + ticks)


class PitTick(ctypes.Structure):
    """Counter 0's periodic OUT edges for native code (module docstring): `periodic` is set
    while its timer is armed for `edge` (a PIT clock edge number) in mode 2 or 3, the next
    edges coming every `period` clocks; `timer` is its slot in the clock's deadlines."""
    _fields_ = [("edge", ctypes.c_uint64), ("period", ctypes.c_uint32), ("timer", ctypes.c_uint32),
                ("periodic", ctypes.c_uint32)]


def to_bcd(value):
    return int(str(value % 10000), 16)


def from_bcd(value):
    digits = [(value >> shift) & 0xF for shift in (12, 8, 4, 0)]
    return sum(min(d, 9) * 10 ** (3 - i) for i, d in enumerate(digits))


class Counter:
    """One of the three counters (module docstring).  Given `on_edge`, a virtual-clock timer
    calls it at every rising edge of OUT."""

    def __init__(self, clock, on_edge=None):
        self.clock = clock
        self.on_edge = on_edge
        self.timer = clock.timer(self._edge) if on_edge else None
        self.tick = PitTick(timer=self.timer.index if on_edge else 0)
        self.mode, self.access, self.bcd = 3, ACCESS_WORD, False
        self.reload = 0x10000            # N, the initial count (0 written means 65536 / 10000)
        self.loaded = False              # a count was written since the control word
        self.gate = True
        self.running = False             # counting (loaded, and the gate allows it)
        self.start_ns = 0                # when the current run of counting began
        self.ticks_before = 0            # clocks counted before it (mode 0/4 gate pauses)
        self.read_msb = self.write_msb = False
        self.write_lsb = 0
        self.latched = []                # bytes a read returns next (status first)

    # ---- time ---------------------------------------------------------------------------
    def elapsed(self, now):
        """Clocks counted since the count was loaded (or last restarted by GATE)."""
        if not self.running:
            return self.ticks_before
        return self.ticks_before + ticks_between(self.start_ns, now)

    def _kind(self):
        """The mode with 6 and 7 folded onto 2 and 3."""
        return self.mode & 3 if self.mode >= 6 else self.mode

    def count(self, now):
        """The counting element's value as a read would see it (N..1 or wrapping)."""
        n, kind = self.reload, self._kind()
        if not self.loaded:
            return n
        d = self.elapsed(now)
        if kind == 2:
            value = n - d % n
        elif kind == 3:
            value = n - (2 * d) % n
        else:
            value = n - d
        return value % (10000 if self.bcd else 0x10000)

    def out(self, now):
        """The OUT pin."""
        kind = self._kind()
        if not self.loaded:
            return kind != 0
        n, d = self.reload, self.elapsed(now)
        if kind == 0:
            return d >= n
        if not self.running:                         # 1, 5 untriggered; 2, 3 held by GATE
            return kind in (1, 2, 3) or d == n
        if kind == 1:
            return d >= n
        if kind == 2:
            return d % n == 0 and d != 0
        if kind == 3:
            return d % n < (n + 1) // 2
        return d == n                                # 4, 5: the one-clock strobe

    def next_rising_edge(self, now):
        """The time of OUT's next rising edge after `now`, or None if none is coming."""
        edge = self._next_edge(now)
        return None if edge is None else edge_ns(edge)

    def _next_edge(self, now):
        """The PIT clock edge number (from time 0) of OUT's next rising edge, or None."""
        if not self.running:
            return None
        n, d, kind = self.reload, self.elapsed(now), self._kind()
        if kind in (2, 3):
            edge = (d // n + 1) * n                  # each period starts with OUT rising
        else:
            edge = n
        if edge <= d:
            return None
        return clock_edges(self.start_ns) + edge - self.ticks_before

    def _restart(self, now):
        self.start_ns, self.ticks_before = now, 0
        self.running = self._kind() not in (1, 5) and self.gate
        self._arm(now)

    def _edge(self):
        self.on_edge()
        self._arm(self.clock.now())

    def _arm(self, now):
        if self.timer is not None:
            edge = self._next_edge(now)
            self.tick.periodic = edge is not None and self._kind() in (2, 3)
            if edge is None:
                self.timer.cancel()
            else:
                self.tick.edge, self.tick.period = edge, self.reload
                self.timer.arm(edge_ns(edge))

    # ---- GATE ---------------------------------------------------------------------------
    def set_gate(self, level, now):
        level = bool(level)
        if level == self.gate:
            return
        self.gate = level
        if not self.loaded:
            return
        kind = self._kind()
        self.ticks_before, self.start_ns = self.elapsed(now), now
        if kind in (0, 4):                           # pause, or resume where it stopped
            self.running = level
        elif level:                                  # 1, 2, 3, 5: the rising edge (re)starts
            self.ticks_before, self.running = 0, True
        else:                                        # one-shots run on; 2 and 3 hold
            self.running = self.running and kind in (1, 5)
        self._arm(now)

    # ---- programming --------------------------------------------------------------------
    def control(self, value):
        """A control word with access bits != 0: new mode; OUT takes the mode's initial state."""
        self.access = (value >> 4) & 3
        self.mode = (value >> 1) & 7
        self.bcd = bool(value & 1)
        self.loaded = self.running = False
        self.read_msb = self.write_msb = False
        self.latched = []
        if self.timer is not None:
            self.tick.periodic = False
            self.timer.cancel()

    def write(self, value, now):
        access = self.access
        if access == ACCESS_WORD and not self.write_msb:
            self.write_lsb, self.write_msb = value, True
            return
        if access == ACCESS_WORD:
            value, self.write_msb = self.write_lsb | (value << 8), False
        elif access == ACCESS_MSB:
            value <<= 8
        n = from_bcd(value) if self.bcd else value
        self.reload = n or (10000 if self.bcd else 0x10000)
        self.loaded = True
        self._restart(now)

    def latch_count(self, now):
        if not any(kind == "count" for kind, _ in self.latched):
            value = self.count(now)
            value = to_bcd(value) if self.bcd else value
            self.latched += [("count", b) for b in self._bytes(value)]

    def latch_status(self, now):
        if not any(kind == "status" for kind, _ in self.latched):
            status = (self.out(now) << 7) | (self.access << 4) | (self.mode << 1) | self.bcd
            self.latched.insert(0, ("status", status))

    def _bytes(self, value):
        if self.access == ACCESS_LSB:
            return [value & 0xFF]
        if self.access == ACCESS_MSB:
            return [value >> 8]
        return [value & 0xFF, value >> 8]

    def read(self, now):
        if self.latched:
            return self.latched.pop(0)[1]
        value = self.count(now)
        value = to_bcd(value) if self.bcd else value
        if self.access == ACCESS_WORD:
            msb, self.read_msb = self.read_msb, not self.read_msb
            return value >> 8 if msb else value & 0xFF
        return self._bytes(value)[0]


class Pit8254(Device):
    """Ports +0..+2: counters 0-2; +3: the control word (write only; reads 0, as on QEMU)."""

    def __init__(self, clock, irq0=None):
        self.clock = clock
        self.counters = [Counter(clock, irq0), Counter(clock), Counter(clock)]

    def read(self, offset, size):
        if offset < 3:
            return self.counters[offset].read(self.clock.now())
        return 0x00                                  # the control word register is write-only

    def write(self, offset, size, value):
        value &= 0xFF
        now = self.clock.now()
        if offset < 3:
            self.counters[offset].write(value, now)
            return
        select = value >> 6
        if select == READ_BACK:
            for i, counter in enumerate(self.counters):
                if value & (2 << i):
                    if not value & 0x10:
                        counter.latch_status(now)
                    if not value & 0x20:
                        counter.latch_count(now)
        elif (value >> 4) & 3 == ACCESS_LATCH:
            self.counters[select].latch_count(now)
        else:
            self.counters[select].control(value)


class PortB(Device):
    """Port 0x61 (QEMU's pcspk view): bit 0 counter 2 GATE, bit 1 speaker data (both
    read/write), bit 4 the refresh toggle, bit 5 counter 2's OUT (read only)."""

    def __init__(self, pit, clock):
        self.counter2 = pit.counters[2]
        self.clock = clock
        self.speaker = False
        self.counter2.set_gate(False, clock.now())   # the BIOS leaves the speaker gate off

    def read(self, offset, size):
        now = self.clock.now()
        refresh = (now // REFRESH_NS) & 1
        return (self.counter2.gate | (self.speaker << 1) | (refresh << 4)
                | (self.counter2.out(now) << 5))

    def write(self, offset, size, value):
        self.counter2.set_gate(value & 1, self.clock.now())
        self.speaker = bool(value & 2)
