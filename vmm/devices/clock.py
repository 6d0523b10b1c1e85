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
due (`run_due`) between slices.

Example:
    clock = VirtualClock(machine.state)
    timer = clock.timer(lambda: pic.raise_irq(0))
    timer.arm(clock.now() + 1_000_000)        # 1 ms of guest time from now
    clock.run_due()                           # called by the monitor loop
"""

import time

from ..errors import VmmError

NS_PER_TICK = 1                 # one guest instruction (TSC tick) is one virtual nanosecond
MODES = ("virtual", "host")
IDLE_SLEEP_NS = 50_000_000      # longest host sleep in one idle step (host mode)


class Timer:
    """A one-shot callback at an absolute virtual time; re-arm it from the callback."""

    def __init__(self, clock, callback):
        self.clock = clock
        self.callback = callback
        self.deadline = None

    def arm(self, deadline_ns):
        self.deadline = deadline_ns
        self.clock.changed()

    def cancel(self):
        self.deadline = None


class VirtualClock:
    """Nanoseconds of guest time, read from the CPU state's TSC (see module docstring)."""

    def __init__(self, state, mode="virtual"):
        if mode not in MODES:
            raise VmmError(f"clock {mode!r} is not one of {', '.join(MODES)}")
        self.state = state
        self.mode = mode
        self.timers = []
        self.on_change = None       # the machine: a new deadline may shorten the current slice
        self._wall0 = time.monotonic_ns()

    def now(self):
        """Guest nanoseconds since power-on."""
        s = self.state
        return ((s.tsc + s.icount) & 0xFFFFFFFFFFFFFFFF) * NS_PER_TICK

    def timer(self, callback):
        t = Timer(self, callback)
        self.timers.append(t)
        return t

    def changed(self):
        if self.on_change is not None:
            self.on_change()

    def next_deadline(self):
        """The earliest armed deadline, or None (a plain loop: the monitor asks at every
        slice and every hlt)."""
        earliest = None
        for t in self.timers:
            deadline = t.deadline
            if deadline is not None and (earliest is None or deadline < earliest):
                earliest = deadline
        return earliest

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
        for t in self.timers:
            if t.deadline is not None and t.deadline <= now:
                t.deadline = None
                t.callback()
