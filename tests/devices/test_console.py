"""vmm/devices/console.py: stdin polled on the virtual clock into the UART; the terminal mode
is restored."""

import os
import pty
import signal
import subprocess
import sys
import termios

import pytest

from vmm.devices.console import ConsoleInput, RawTerminal


def test_pipe_input_is_fed_every_period_of_guest_time_until_its_end(clock):
    read_end, write_end = os.pipe()
    fed = []
    console = ConsoleInput(clock, fed.append, fd=read_end, period_ns=1000).start()
    clock.step(999)
    os.write(write_end, b"ls\n")
    assert fed == []
    clock.step(1)
    assert fed == [b"ls\n"]
    clock.step(1000)
    assert fed == [b"ls\n"] and clock.next_deadline() == 3000          # nothing new: still polling
    os.close(write_end)
    clock.step(1000)
    assert console.eof and clock.next_deadline() is None and not console.wait(0)
    os.close(read_end)


def test_file_input_is_read_the_same_way(clock, tmp_path):
    path = tmp_path / "input"
    path.write_bytes(b"echo hi\n")
    fed = []
    with open(path, "rb") as f:
        ConsoleInput(clock, fed.append, fd=f.fileno(), period_ns=10).start()
        clock.step(30)
    assert fed == [b"echo hi\n"]


def test_wait_returns_when_input_is_ready(clock):
    read_end, write_end = os.pipe()
    console = ConsoleInput(clock, lambda data: None, fd=read_end)
    os.write(write_end, b"x")
    assert console.wait(5) and console.ready(0)
    os.close(write_end)
    os.close(read_end)


def test_raw_mode_on_a_terminal_and_restored_after(tmp_path):
    leader, follower = pty.openpty()
    before = termios.tcgetattr(follower)
    with os.fdopen(follower, "rb", buffering=0, closefd=False) as stream:
        with RawTerminal(stream) as term:
            mode = termios.tcgetattr(follower)
            assert not mode[3] & (termios.ICANON | termios.ECHO) and mode[3] & termios.ISIG
            assert not mode[0] & termios.ICRNL and mode[1] == before[1]     # output processing kept
        assert termios.tcgetattr(follower) == before
        term.restore()                        # twice is harmless
    os.close(leader)
    os.close(follower)


def test_raw_terminal_does_nothing_on_a_pipe():
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as stream, RawTerminal(stream) as term:
        assert term.saved is None
    os.close(write_end)


def test_without_signals_ctrl_c_is_a_byte_and_the_handlers_come_back():
    leader, follower = pty.openpty()
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)
    with os.fdopen(follower, "rb", buffering=0, closefd=False) as stream:
        with RawTerminal(stream, signals=False):
            assert not termios.tcgetattr(follower)[3] & termios.ISIG
            assert signal.getsignal(signal.SIGTERM) != before[0]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)) == before
    os.close(leader)
    os.close(follower)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_that_ends_the_process_restores_the_terminal_first(signum):
    leader, follower = pty.openpty()
    before = termios.tcgetattr(follower)
    code = ("import sys, time; from vmm.devices.console import RawTerminal; "
            "RawTerminal(sys.stdin, signals=False).enter(); print('raw', flush=True); time.sleep(60)")
    process = subprocess.Popen([sys.executable, "-c", code], stdin=follower, stdout=subprocess.PIPE,
                               env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    try:
        assert process.stdout.readline() == b"raw\n"
        assert termios.tcgetattr(follower) != before
        process.send_signal(signum)
        assert process.wait(timeout=30) == -signum                # ended by the signal, as uncaught
    finally:
        process.kill()
        process.stdout.close()
    assert termios.tcgetattr(follower) == before
    os.close(leader)
    os.close(follower)
