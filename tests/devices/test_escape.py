"""vmm/devices/escape.py: the Ctrl-A escapes, byte by byte and split across reads."""

import pytest

from vmm.devices.escape import HELP, EscapeParser, escaped


def _feed_each(chunks):
    parser = EscapeParser()
    guest, commands = b"", []
    for chunk in chunks:
        data, found = parser.feed(chunk)
        guest += data
        commands += found
    return guest, commands


@pytest.mark.parametrize("data, guest, commands", [
    (b"ls -l\r", b"ls -l\r", []),
    (b"\x03\x1a\x1c\x04", b"\x03\x1a\x1c\x04", []),         # Ctrl-C, Ctrl-Z, Ctrl-\, Ctrl-D: the guest's
    (b"\x01x", b"", ["quit"]),
    (b"\x01X", b"", ["quit"]),
    (b"\x01h", b"", ["help"]),
    (b"\x01?", b"", ["help"]),
    (b"\x01\x01", b"\x01", []),
    (b"\x01\x01x", b"\x01x", []),                            # the second Ctrl-A was sent, not an escape
    (b"\x01\x01\x01x", b"\x01", ["quit"]),
    (b"a\x01zb", b"ab", []),                                 # an unknown key after Ctrl-A is dropped
    (b"a\x01\rb", b"ab", []),
    (b"echo\r\x01hpwd\r\x01x", b"echo\rpwd\r", ["help", "quit"]),
])
def test_whole_and_byte_by_byte_give_the_same(data, guest, commands):
    assert EscapeParser().feed(data) == (guest, commands)
    assert _feed_each([data[i:i + 1] for i in range(len(data))]) == (guest, commands)


def test_a_ctrl_a_ending_a_read_waits_for_the_next():
    parser = EscapeParser()
    assert parser.feed(b"ab\x01") == (b"ab", [])
    assert parser.escaped
    assert parser.feed(b"xcd") == (b"cd", ["quit"])
    assert parser.feed(b"x") == (b"x", [])


def test_escaped_feeds_the_guest_then_runs_the_actions():
    events = []
    feed = escaped(lambda data: events.append(data), {"quit": lambda: events.append("quit"),
                                                      "help": lambda: events.append("help")})
    feed(b"uname\r\x01")
    feed(b"h\x01")
    feed(b"\x01\x01x")
    assert events == [b"uname\r", "help", b"\x01", "quit"]


def test_help_names_the_keys():
    assert "Ctrl-A x" in HELP and "Ctrl-A h" in HELP and "Ctrl-A Ctrl-A" in HELP
