"""A virtual clock the device tests move by hand (no CPU: the TSC is a plain attribute)."""

from types import SimpleNamespace

import pytest

from vmm.devices.clock import VirtualClock


class HandClock(VirtualClock):
    """VirtualClock over a stand-in CPU state; `step(ns)` advances time and fires due timers."""

    def __init__(self):
        super().__init__(SimpleNamespace(tsc=0, icount=0))

    def step(self, ns):
        """Advance by `ns` and fire what is due, stopping at every deadline on the way (as the
        monitor caps each slice of guest code at the next deadline)."""
        self.run_until(self.now() + ns)

    def run_until(self, t):
        while (deadline := self.next_deadline()) is not None and deadline <= t:
            self.advance(deadline - self.now())
            self.run_due()
        self.advance(t - self.now())
        self.run_due()


@pytest.fixture
def clock():
    return HandClock()
