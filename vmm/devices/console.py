"""Host input for the guest's serial console: stdin, polled from a virtual-clock timer.

`RawTerminal` puts a terminal in raw mode (no line editing or echo, every byte goes to the
guest; output processing and, by default, Ctrl-C as a host signal stay on, like QEMU's
`-serial stdio`; with `signals=False` Ctrl-C, Ctrl-Z and Ctrl-\\ are bytes for the guest too,
like QEMU's `-nographic`) and restores the saved mode on `restore()`, on leaving the `with`
block, at interpreter exit, and on SIGTERM or SIGHUP, whichever comes first: such a signal
restores the terminal, then acts as it would have (by default, ends the process).  Restoring
twice is harmless.  On anything but a terminal it does nothing.

`ConsoleInput` polls a file descriptor without blocking (select with a zero timeout, so
pipes, files and terminals are read the same way and the descriptor's flags, shared with
stdout on a terminal, are never changed) every `period_ns` of guest time, and feeds what it
read to `sink` (the UART's `feed`).  At end of input it stops polling.  `wait(seconds)`
blocks until input is ready or the time is up: for a monitor whose guest is idle (hlt)
and whose only wake-up is the keyboard, instead of spinning.

Example (what the CLI does around a run):
    with RawTerminal(sys.stdin):
        ConsoleInput(machine.clock, machine.devices["com1"].feed).start()
        machine.run()
"""

import atexit
import os
import select
import signal
import termios

PERIOD_NS = 10_000_000           # poll stdin every 10 ms of guest time
CHUNK = 4096
IFLAG, LFLAG, CC = 0, 3, 6       # in termios.tcgetattr's list; OFLAG (1) is left alone
ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class RawTerminal:
    """Raw mode on a terminal for the length of a `with` block (module docstring)."""

    def __init__(self, stream, signals=True):
        self.fd = stream.fileno()
        self.signals = signals           # keep ISIG: Ctrl-C and Ctrl-Z still act on the host
        self.saved = None
        self.handlers = {}               # signal -> its handler before ours

    def __enter__(self):
        self.enter()
        return self

    def __exit__(self, *exc):
        self.restore()

    def enter(self):
        if not os.isatty(self.fd) or self.saved is not None:
            return
        self.saved = termios.tcgetattr(self.fd)
        mode = termios.tcgetattr(self.fd)
        mode[IFLAG] &= ~(termios.BRKINT | termios.ICRNL | termios.INPCK | termios.ISTRIP | termios.IXON)
        mode[LFLAG] &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN | (0 if self.signals else termios.ISIG))
        mode[CC][termios.VMIN], mode[CC][termios.VTIME] = 1, 0
        termios.tcsetattr(self.fd, termios.TCSANOW, mode)
        atexit.register(self.restore)
        try:
            self.handlers = {signum: signal.signal(signum, self._ending) for signum in ENDING_SIGNALS}
        except ValueError:
            pass                         # not the main thread: atexit and the caller restore it

    def restore(self):
        """Put the terminal and the signal handlers back as they were (idempotent)."""
        handlers, self.handlers = self.handlers, {}
        for signum, handler in handlers.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)   # None: set outside Python
        if self.saved is not None:
            saved, self.saved = self.saved, None
            try:
                termios.tcsetattr(self.fd, termios.TCSAFLUSH, saved)
            except termios.error:
                pass                     # the terminal went away (hang-up): nothing to restore

    def _ending(self, signum, frame):
        """SIGTERM or SIGHUP in raw mode: restore, then deliver it again to the handler that
        was there before (the default one ends the process, as if vmm had not caught it)."""
        self.restore()
        os.kill(os.getpid(), signum)


class ConsoleInput:
    """Feeds bytes from `fd` (stdin by default) to `sink` every `period_ns` of guest time."""

    def __init__(self, clock, sink, fd=0, period_ns=PERIOD_NS):
        self.clock = clock
        self.sink = sink
        self.fd = fd
        self.period_ns = period_ns
        self.eof = False
        self.timer = clock.timer(self._tick)

    def start(self):
        self.timer.arm(self.clock.now() + self.period_ns)
        return self

    def poll(self):
        """Read what is ready now, without blocking, and feed it; False at end of input."""
        if not self.eof and self.ready(0):
            try:
                data = os.read(self.fd, CHUNK)
            except OSError:
                data = b""
            if data:
                self.sink(data)
            else:
                self.eof = True
        return not self.eof

    def ready(self, timeout):
        try:
            return bool(select.select([self.fd], [], [], timeout)[0])
        except (OSError, ValueError):
            return True                  # a closed descriptor: the read will report the end

    def wait(self, seconds):
        """Block until input is ready or `seconds` pass; False if input has ended."""
        if not self.eof:
            self.ready(seconds)
        return not self.eof

    def _tick(self):
        if self.poll():
            self.timer.arm(self.clock.now() + self.period_ns)
