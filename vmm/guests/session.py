"""Driving a guest's serial console from Python: start `vmm run` (or a peer such as
qemu-system-i386) with the console on a pipe, wait for text, type commands, read their output.

A reader thread collects everything the guest writes; `expect` waits until a string appears
after what earlier calls consumed.  `command` types one shell command followed by an echo of
a marker built so that the typed line (which the terminal echoes back) does not contain it,
and returns what the command printed.

Example:
    with ConsoleSession(["vmm", "run", "--kernel", k, "--initrd", i, "--append", "console=ttyS0"]) as guest:
        guest.expect("VMM-INIT-READY", timeout=600)
        print(guest.command("uname -r"))          # 6.1.0-50-686
        guest.send("poweroff\\n")
        guest.wait(60)
"""

import subprocess
import threading
import time

ANSI_QUERY = "\x1b[6n"           # busybox ash asks for the cursor position before each prompt


class ConsoleTimeout(AssertionError):
    """The text did not appear in time; the message ends with what the guest wrote last."""


class ConsoleSession:
    """`argv` started (with environment `env`, default this process's) with its stdin and
    stdout on pipes; its stderr is collected too (a thread reads it as it comes, so a chatty
    process never blocks on a full pipe) and read back with `errors()` once it has ended."""

    def __init__(self, argv, env=None):
        self.argv = argv
        self.started = time.monotonic()
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        env=env)
        self.output = bytearray()
        self.stderr = bytearray()
        self.consumed = 0
        self.changed = threading.Condition()
        self.marks = 0
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.error_reader = threading.Thread(target=self._read_errors, daemon=True)
        self.error_reader.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def _read(self):
        while chunk := self.process.stdout.read1(4096):
            with self.changed:
                self.output += chunk
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def _read_errors(self):
        while chunk := self.process.stderr.read1(4096):
            self.stderr += chunk

    def errors(self):
        """What the process wrote on stderr, once it has ended."""
        self.process.wait()
        self.error_reader.join()
        return self.stderr.decode(errors="replace")

    def text(self, start=0):
        return _clean(self.output[start:])

    def expect(self, needle, timeout):
        """Wait until `needle` appears after what was consumed; return the text before it
        (and consume through it).  ConsoleTimeout if it does not come in `timeout` seconds
        or the guest ends first."""
        data = needle.encode()
        deadline = time.monotonic() + timeout
        with self.changed:
            while (found := self.output.find(data, self.consumed)) < 0:
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self.reader.is_alive()):
                    raise ConsoleTimeout(f"{needle!r} not seen in {timeout} s (exit status {self.process.poll()}); "
                                         f"the guest wrote last: {self.text(max(0, len(self.output) - 600))!r}")
                self.changed.wait(min(left, 1.0))
            before = _clean(self.output[self.consumed:found])
            self.consumed = found + len(data)
        return before

    def send(self, text):
        self.process.stdin.write(text.encode())
        self.process.stdin.flush()

    def command(self, line, timeout=300):
        """Type `line` into the guest's shell; return its output (without the echoed line)."""
        self.marks += 1
        self.send(f"{line}; echo M$((40+{self.marks}))K\n")
        self.expect("\r\n", timeout)                       # the terminal's echo of the typed line
        return self.expect(f"M{40 + self.marks}K\r\n", timeout)

    def wait(self, timeout):
        """The exit status once the process ends (TimeoutExpired if it does not)."""
        return self.process.wait(timeout)

    def elapsed(self):
        return time.monotonic() - self.started


def _clean(raw):
    """Console bytes as text: carriage returns and ash's cursor queries left out."""
    return raw.decode(errors="replace").replace(ANSI_QUERY, "").replace("\r", "")
