"""`vmm run` with a terminal on stdin, as QEMU's -nographic: keys (Ctrl-C too) go to the guest,
Ctrl-A h prints the escapes, Ctrl-A x ends the run with exit status 0, and the terminal's
modes are restored; with a pipe on stdin, Ctrl-A is just a byte."""

import os
import pty
import select
import subprocess
import sys
import termios
import time

import pytest

from tests.asmguest import assemble

ECHO = """
    mov dx, 0x3f8
    mov al, 0x2a
    out dx, al
poll:
    mov ecx, 100000
spin:
    dec ecx
    jnz spin
    mov dx, 0x3fd
    in al, dx
    test al, 1
    jz poll
    mov dx, 0x3f8
    in al, dx
    out dx, al
    jmp poll
"""


@pytest.fixture
def echo_guest(tmp_path):
    path = tmp_path / "echo.bin"
    path.write_bytes(assemble(ECHO, 0x100000))
    return path


def _command(guest):
    # The guest spins between its port reads (which the monitor handles, slowly): stdin is
    # polled every 10 ms of guest time, 10 million instructions, and a native loop runs them fast.
    return [sys.executable, "-m", "vmm", "run", str(guest), "--load-address", "0x100000", "-m", "4",
            "--timeout", "60"]


def _read_until(fd, wanted, seconds=30):
    data, end = b"", time.monotonic() + seconds
    while wanted not in data and time.monotonic() < end:
        if select.select([fd], [], [], 0.5)[0]:
            data += os.read(fd, 4096)
    assert wanted in data, data
    return data


def test_terminal_keys_go_to_the_guest_and_ctrl_a_x_quits(echo_guest):
    leader, follower = pty.openpty()
    before = termios.tcgetattr(follower)
    process = subprocess.Popen(_command(echo_guest), stdin=follower, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    try:
        out = process.stdout.fileno()
        _read_until(out, b"*")
        os.write(leader, b"a\x03b\x01\x01c")              # Ctrl-C is a byte for the guest; Ctrl-A Ctrl-A is one Ctrl-A
        _read_until(out, b"a\x03b\x01c")
        os.write(leader, b"\x01h")
        help_text = _read_until(process.stderr.fileno(), b"Ctrl-A Ctrl-A")
        os.write(leader, b"\x01x")
        status = process.wait(timeout=30)
        rest = process.stderr.read()
    finally:
        process.kill()
    assert status == 0, rest
    assert b"Ctrl-A x" in help_text and rest.decode().rstrip().endswith("quit: Ctrl-A x")
    assert termios.tcgetattr(follower) == before
    os.close(leader)
    os.close(follower)


def test_piped_input_passes_ctrl_a_to_the_guest(echo_guest):
    process = subprocess.Popen(_command(echo_guest), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    try:
        process.stdin.write(b"\x01x\x03")
        process.stdin.flush()
        echoed = _read_until(process.stdout.fileno(), b"*\x01x\x03")
    finally:
        process.kill()
        process.wait()
    assert echoed == b"*\x01x\x03"
