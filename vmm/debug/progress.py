"""`vmm run -v`: one line a second on stderr with the guest's progress, for watching a long
boot.  A daemon thread reads the counters (Python ints and the CPU state's instruction
count; reading them from another thread is safe) and prints the rates since its last line:

    vmm: 48.2 MIPS, 1210 exits/s, 830 callouts/s, 3194 blocks compiled, 12040 from cache

exits are returns from translated code to Python (the jit's dispatcher calls), callouts the
privileged instructions the monitor ran.  The serial console (stdout) is never written.

Example:
    with Progress(machine, sys.stderr):
        machine.run()
"""

import threading
import time


class Progress:
    def __init__(self, machine, out, interval=1.0):
        self.m, self.out, self.interval = machine, out, interval
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="vmm-progress", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()

    def _figures(self):
        translator = self.m.translator
        jit = translator.progress() if translator is not None else {"exits": 0, "compiled": 0, "loaded": 0}
        return time.perf_counter(), self.m.state.icount, jit["exits"], self.m.callouts, jit

    def _loop(self):
        before = self._figures()
        while not self.done.wait(self.interval):
            now = self._figures()
            print(line(before, now), file=self.out, flush=True)
            before = now


def line(before, now):
    """The progress line for the interval between two `_figures` samples."""
    seconds = max(now[0] - before[0], 1e-9)
    mips = (now[1] - before[1]) / seconds / 1e6
    exits = (now[2] - before[2]) / seconds
    callouts = (now[3] - before[3]) / seconds
    jit = now[4]
    return (f"vmm: {mips:.1f} MIPS, {exits:.0f} exits/s, {callouts:.0f} callouts/s, "
            f"{jit['compiled']} blocks compiled, {jit['loaded']} from cache")
