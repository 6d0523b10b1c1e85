"""The gdb stub (vmm/debug/gdbstub.py) driven by the real gdb, and by hand for the protocol's
corners (checksums, Ctrl-C, no-ack mode), on the interpreter and on the translator."""

import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

from tests.asmguest import ORIGIN, assemble, machine_with
from vmm.debug.gdbstub import GdbStub, checksum, frame, parse_address
from vmm.errors import VmmError

GUEST = """
    mov eax, 0x11
    mov ebx, 0x2000
    mov esi, 0
again:
    call func
    inc esi
    cmp esi, 5
    jne again
    mov dx, 0xf4
    mov al, 2
    out dx, al
func:
    mov dword ptr [ebx], 0xdeadbeef
    add eax, 1
    ret
"""
CODE = assemble(GUEST)
FUNC = ORIGIN + CODE.index(bytes.fromhex("c703efbeadde"))     # mov dword ptr [ebx], imm
ADD = FUNC + 6                                                   # add eax, 1: inside func's block
SPIN = "top:\ninc eax\njmp top"


def _serve(engine, src, **kw):
    """A stub on a free port, running in a thread; returns (stub, thread, results)."""
    m = machine_with(engine, src)
    stub = GdbStub(m, port=0, wait=True)
    results = []
    thread = threading.Thread(target=lambda: results.append(stub.run(**kw)), daemon=True)
    thread.start()
    return stub, thread, results


@pytest.mark.skipif(shutil.which("gdb") is None, reason="gdb is not installed")
@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_gdb_breaks_reads_steps_and_continues_to_the_exit(engine):
    stub, thread, results = _serve(engine, GUEST)
    commands = ["set architecture i386", f"target remote :{stub.port}",
                f"break *{FUNC:#x}", "continue", "print/x $eax", "print/x $eip",
                "stepi", "print/x $eip", "x/wx 0x2000", "info registers cs eflags",
                "delete", f"break *{ADD:#x}", "continue", "print/x $esi",     # inside a translated block
                "set var $eax = 0x100", "delete", "continue"]
    done = subprocess.run(["gdb", "-nx", "-batch"] + [arg for c in commands for arg in ("-ex", c)],
                          capture_output=True, text=True, timeout=60)
    thread.join(timeout=30)
    out = done.stdout
    values = re.findall(r"^\$\d+ = (0x[0-9a-f]+)", out, re.M)
    assert values[:3] == ["0x11", hex(FUNC), hex(FUNC + 6)], out + done.stderr
    assert "0x2000:\t0xdeadbeef" in out
    assert re.search(r"cs\s+0x8", out) and "eflags" in out
    assert values[3] == "0x1", out                 # the second call's add: esi is 1 by then
    assert "exited with code 05" in out, out       # isa-debug-exit: (2 << 1) | 1
    result = results[0]
    assert result.reason == "exit" and result.exit_code == 5
    assert stub.m.reg_read("eax") == 0x102         # gdb set 0x100; +4 adds, then al = 2


def _packet(sock, payload, ack=True):
    sock.sendall(frame(payload.encode()))
    data = b""
    while not data.endswith(b"#") and not re.search(rb"#[0-9a-f]{2}$", data):
        chunk = sock.recv(4096)
        assert chunk, f"the stub closed the connection after {payload!r}"
        data += chunk
    if ack:
        sock.sendall(b"+")
    text = data.decode()
    return text[text.index("$") + 1:text.rindex("#")]


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_ctrl_c_interrupts_a_running_guest_and_kill_ends_the_run(engine):
    stub, thread, results = _serve(engine, SPIN)
    sock = socket.create_connection(("127.0.0.1", stub.port))
    assert "QStartNoAckMode+" in _packet(sock, "qSupported:xmlRegisters=i386")
    sock.sendall(frame(b"c"))
    assert sock.recv(1) == b"+"
    time.sleep(0.3)
    sock.sendall(b"\x03")
    data = b""
    while b"#" not in data:
        chunk = sock.recv(100)
        assert chunk, "the stub closed the connection"
        data += chunk
    assert data.startswith(b"$S02")                  # SIGINT
    sock.sendall(b"+")
    eax = int.from_bytes(bytes.fromhex(_packet(sock, "p0")), "little")
    assert eax > 1000                                # it really ran
    sock.sendall(frame(b"k"))
    thread.join(timeout=10)
    assert results[0].reason == "stop" and "killed" in results[0].message


def test_bad_checksums_are_refused_and_no_ack_mode_works():
    stub, thread, results = _serve("interp", SPIN)
    sock = socket.create_connection(("127.0.0.1", stub.port))
    sock.sendall(b"$g#00")
    assert sock.recv(1) == b"-"
    assert _packet(sock, "QStartNoAckMode") == "OK"
    regs = _packet(sock, "g", ack=False)
    assert regs[8 * 8:8 * 9] == ORIGIN.to_bytes(4, "little").hex()      # eip, 9th register
    assert _packet(sock, f"m{ORIGIN:x},2", ack=False) == assemble(SPIN)[:2].hex()
    assert _packet(sock, "m7fffffff,4", ack=False).startswith("E")       # outside RAM
    assert _packet(sock, "Z2,1000,4", ack=False) == ""                   # watchpoints: unsupported
    sock.sendall(frame(b"k"))
    thread.join(timeout=10)
    assert results[0].reason == "stop"


def test_frame_escapes_and_checksums():
    assert frame(b"OK") == b"$OK#9a" and checksum(b"OK") == 0x9A
    assert frame(b"a#b") == b"$a}\x03b#" + f"{checksum(b'a}' + bytes([3]) + b'b'):02x}".encode()


def test_gdb_addresses_in_qemu_spelling():
    assert parse_address("tcp::1234") == ("127.0.0.1", 1234)
    assert parse_address("tcp:0.0.0.0:4000") == ("0.0.0.0", 4000)
    for bad in ("1234", "tcp::", "udp::1", "tcp::99999"):
        with pytest.raises(VmmError):
            parse_address(bad)


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_gdb_attaching_to_a_running_guest_stops_it(engine):
    m = machine_with(engine, SPIN)
    stub = GdbStub(m, port=0, wait=False)                # -s without -S: the guest runs at once
    results = []
    thread = threading.Thread(target=lambda: results.append(stub.run(timeout=1.0)), daemon=True)
    thread.start()
    while m.state.icount < 1000:                         # running (the jit starts up first)
        time.sleep(0.05)
    sock = socket.create_connection(("127.0.0.1", stub.port))
    assert _packet(sock, "?") == "S05"
    first = _packet(sock, "p0")
    time.sleep(0.2)
    assert _packet(sock, "p0") == first                   # stopped while gdb is attached
    assert int.from_bytes(bytes.fromhex(first), "little") > 0
    assert _packet(sock, "D") == "OK"                     # detach: the guest runs on...
    thread.join(timeout=10)
    assert results[0].reason == "timeout"                 # ...to the end of its 1 s of running
    assert m.reg_read("eax") > int.from_bytes(bytes.fromhex(first), "little")


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_stepping_over_a_callout_runs_it_once(engine):
    src = "mov dx, 0x540\nmov al, 7\nout dx, al\ninc eax\ncli\nhlt"
    out_at = ORIGIN + 4 + 2                                   # mov dx (4 bytes), mov al (2)
    stub, thread, results = _serve(engine, src)
    seen = []
    stub.m.hook_port(0x540, write=lambda port, size, value: seen.append(value))
    sock = socket.create_connection(("127.0.0.1", stub.port))
    assert _packet(sock, f"Z0,{out_at:x},1") == "OK"
    assert _packet(sock, "c") == "S05"
    assert stub.m.reg_read("eip") == out_at and seen == []    # stopped before the out
    assert _packet(sock, "s") == "S05"
    assert stub.m.reg_read("eip") == out_at + 1 and seen == [7]
    assert _packet(sock, "c") == "W00"                         # hlt: the guest is done
    thread.join(timeout=10)
    assert results[0].reason == "halt" and seen == [7] and stub.m.reg_read("eax") == 8
