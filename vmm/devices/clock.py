"""Virtual time: one clock for the PIT, the RTC, the TSC and interrupt delivery.

By default time is virtual and deterministic (QEMU -icount, DESIGN.md principle 6): the
clock reads the guest's time-stamp counter, which advances by one per retired guest
instruction, and one tick is one nanosecond (a 1 GHz virtual CPU).  The same guest and
input therefore give the same run on both engines.  `hlt` with interrupts on does not
spin: the monitor skips the clock forward to the next timer deadline (`idle`), adding the
skipped time to the TSC offset, so rdtsc, the PIT and the RTC all see it.

With `mode="host"` the clock follows the host's wall clock instead (for interactive use):
the TSC offset is moved forward as wall time passes, so guest time never runs slower than
real time; runs are then not reproducible.

Timers are armed by devices with an absolute deadline in nanoseconds; the monitor caps
each slice of guest execution at the next deadline (`next_deadline`) and fires what is
due (`run_due`) between slices.  The deadlines live in a native structure (`regs`,
ClockRegs: NO_DEADLINE for a timer not armed), so translated code can see which comes next
(vmm.translator.devicepath wakes a hlt for the PIT's tick without the monitor).

Example:
    clock = VirtualClock(machine.state)
    timer = clock.timer(lambda: pic.raise_irq(0))
    timer.arm(clock.now() + 1_000_000)        # 1 ms of guest time from now
    clock.run_due()                           # called by the monitor loop
"""

import ctypes
import time

from ..errors import VmmError

NS_PER_TICK = 1                 # one guest instruction (TSC tick) is one virtual nanosecond
MODES = ("virtual", "host")
IDLE_SLEEP_NS = 50_000_000      # longest host sleep in one idle step (host mode)
MAX_TIMERS = 8
NO_DEADLINE = (1 << 64) - 1


class ClockRegs(ctypes.Structure):
    """What native code reads of the clock: each timer's deadline, and whether time is virtual."""
    _fields_ = [("deadlines", ctypes.c_uint64 * MAX_TIMERS), ("virtual", ctypes.c_uint32)]


class Timer:
    """A one-shot callback at an absolute virtual time; re-arm it from the callback."""

    def __init__(self, clock, callback, index):
        self.clock = clock
        self.callback = callback
        self.index = index              # its slot in clock.regs.deadlines

    @property
    def deadline(self):
        """The armed deadline (ns), or None."""
        deadline = self.clock.regs.deadlines[self.index]
        return None if deadline == NO_DEADLINE else deadline

    def arm(self, deadline_ns):
        self.clock.regs.deadlines[self.index] = deadline_ns
        self.clock.changed()

    def cancel(self):
        self.clock.regs.deadlines[self.index] = NO_DEADLINE


class VirtualClock:
    """Nanoseconds of guest time, read from the CPU state's TSC (see module docstring)."""

    def __init__(self, state, mode="virtual"):
        if mode not in MODES:
            raise VmmError(f"clock {mode!r} is not one of {', '.join(MODES)}")
        self.state = state
        self.mode = mode
        self.regs = ClockRegs(virtual=mode == "virtual")
        self.regs.deadlines[:] = [NO_DEADLINE] * MAX_TIMERS
        self.timers = []
        self.on_change = None       # the machine: a new deadline may shorten the current slice
        self._wall0 = time.monotonic_ns()

    def now(self):
        """Guest nanoseconds since power-on."""
        s = self.state
        return ((s.tsc + s.icount) & 0xFFFFFFFFFFFFFFFF) * NS_PER_TICK

    def timer(self, callback):
        if len(self.timers) == MAX_TIMERS:
            raise VmmError(f"a machine has at most {MAX_TIMERS} device timers")
        t = Timer(self, callback, len(self.timers))
        self.timers.append(t)
        return t

    def changed(self):
        if self.on_change is not None:
            self.on_change()

    def next_deadline(self):
        """The earliest armed deadline, or None (a plain loop: the monitor asks at every
        slice and every hlt)."""
        earliest = min(self.regs.deadlines)
        return None if earliest == NO_DEADLINE else earliest

    def advance(self, ns):
        """Move guest time forward by `ns` without running instructions."""
        if ns > 0:
            self.state.tsc = (self.state.tsc + ns // NS_PER_TICK) & 0xFFFFFFFFFFFFFFFF

    def idle(self):
        """hlt with interrupts on: skip to the next deadline (in host mode, sleep towards it,
        at most 50 ms at a time so the monitor stays responsive).  False if nothing is
        armed (the guest would wait for ever)."""
        deadline = self.next_deadline()
        if deadline is None:
            return False
        if self.mode == "host":
            time.sleep(max(0.0, min(deadline - self.now(), IDLE_SLEEP_NS)) / 1e9)
            self.sync_host()
        else:
            self.advance(deadline - self.now())
        return True

    def sync_host(self):
        """In host mode, let guest time catch up with the wall clock."""
        if self.mode == "host":
            self.advance(time.monotonic_ns() - self._wall0 - self.now())

    def run_due(self):
        """Fire every timer whose deadline has passed (a callback may re-arm its timer)."""
        self.sync_host()
        now = self.now()
        deadlines = self.regs.deadlines
        for t in self.timers:
            if deadlines[t.index] <= now:
                deadlines[t.index] = NO_DEADLINE
                t.callback()
