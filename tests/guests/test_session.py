"""vmm/guests/session.py: waiting for console text, typing, and a chatty stderr that must
not block the process (a full pipe would stall it with nobody reading)."""

import sys

import pytest

from vmm.guests.session import ConsoleSession, ConsoleTimeout

ECHO = ("import sys\n"
        "sys.stderr.write('e' * 200000); sys.stderr.flush()\n"
        "print('ready', flush=True)\n"
        "for line in sys.stdin:\n"
        "    print('got\\r', line.strip(), '\\x1b[6n', flush=True)\n")


def test_expect_send_and_the_whole_stderr():
    with ConsoleSession([sys.executable, "-c", ECHO]) as console:
        assert console.expect("ready", timeout=30) == ""
        console.send("abc\n")
        assert console.expect("abc", timeout=30) == "\ngot "          # \r and the cursor query dropped
        console.process.stdin.close()
        assert console.wait(30) == 0
        assert console.errors() == "e" * 200000


def test_text_that_never_comes_is_a_timeout_naming_what_came():
    with ConsoleSession([sys.executable, "-c", "print('something else', flush=True)"]) as console:
        with pytest.raises(ConsoleTimeout, match="something else"):
            console.expect("never", timeout=30)
