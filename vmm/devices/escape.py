"""QEMU's escape keys on a serial console in a terminal (`-nographic`): Ctrl-A, then a key.

    Ctrl-A x        quit: the run stops (reason "quit") and the terminal is restored
    Ctrl-A h or ?   print the keys (on stderr)
    Ctrl-A Ctrl-A   send one Ctrl-A to the guest

Any other key after Ctrl-A is dropped, as QEMU drops it; every other byte, Ctrl-C included,
goes to the guest.  `EscapeParser` is pure: `feed(data)` returns the bytes for the guest and
the commands it found, and remembers a Ctrl-A that ended a read, so a sequence split across
reads acts the same.  `escaped(sink, actions)` wraps a UART's `feed` with it, for
ConsoleInput.  Piped input is not parsed: its bytes go to the guest as they are.

Example:
    parser = EscapeParser()
    parser.feed(b"ls\\n\\x01")          # (b"ls\\n", [])
    parser.feed(b"x")                  # (b"", ["quit"])
"""

CTRL_A = 0x01
COMMANDS = {ord("x"): "quit", ord("X"): "quit", ord("h"): "help", ord("H"): "help", ord("?"): "help"}
HELP = """Ctrl-A x        quit vmm
Ctrl-A h        print these keys
Ctrl-A Ctrl-A   send Ctrl-A to the guest
"""


class EscapeParser:
    """Splits terminal input into bytes for the guest and escape commands (module docstring)."""

    def __init__(self):
        self.escaped = False             # the last byte seen was a Ctrl-A that starts an escape

    def feed(self, data):
        guest, commands = bytearray(), []
        for byte in data:
            if self.escaped:
                self.escaped = False
                if byte == CTRL_A:
                    guest.append(byte)
                elif byte in COMMANDS:
                    commands.append(COMMANDS[byte])
            elif byte == CTRL_A:
                self.escaped = True
            else:
                guest.append(byte)
        return bytes(guest), commands


def escaped(sink, actions):
    """A sink for ConsoleInput: the guest's bytes to `sink`, then each command's action
    (`actions` maps "quit" and "help" to functions of no arguments)."""
    parser = EscapeParser()

    def feed(data):
        guest, commands = parser.feed(data)
        if guest:
            sink(guest)
        for command in commands:
            actions[command]()
    return feed
