"""A gdb remote stub (RSP over TCP), QEMU's spelling: `-s` (tcp::1234), `-S`, `-gdb tcp::PORT`.

gdb talks to the machine in packets `$data#checksum`, acknowledged with `+` (until
QStartNoAckMode).  Supported: qSupported, the i386 target description (qXfer
target.xml: the 16 core registers eax..gs, then the x87 registers), `?`, g/G, p/P,
m/M, Z0/z0 (software) and Z1/z1 (hardware) breakpoints, s, c, vCont, Ctrl-C (0x03)
while the guest runs, k and D.  Unknown packets get the empty reply, as the protocol asks.

The guest runs in slices of SLICE_SECONDS between which the stub looks at the socket
(Ctrl-C, a new connection), so the translator runs at full speed while gdb waits.
Breakpoints are Machine.set_breakpoints: translated blocks end before them and the run
stops there; single steps run one instruction (Machine.run(max_insns=1)).

Example:
    stub = GdbStub(machine, port=1234, wait=True)   # -S: wait for gdb before running
    result = stub.run(max_insns=None, timeout=None)  # a RunResult, as Machine.run
    # gdb -ex 'set architecture i386' -ex 'target remote :1234'
"""

import select
import socket
import time

from ..errors import VmmError
from ..machine import RunResult
from ..x86.state import GPR_NAMES, SEG_NAMES

SLICE_SECONDS = 0.05
SIGINT, SIGTRAP, SIGSEGV = 2, 5, 11
CORE = GPR_NAMES + ("eip", "eflags") + SEG_NAMES          # gdb's i386 order: eax ecx edx ebx esp ...
X87_CONTROL = ("fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop")
REGISTER_COUNT = len(CORE) + 8 + len(X87_CONTROL)


def _target_xml():
    core = "".join(f'<reg name="{name}" bitsize="32" type="{"code_ptr" if name == "eip" else "int32"}"/>'
                   for name in CORE)
    st = "".join(f'<reg name="st{n}" bitsize="80" type="i387_ext"/>' for n in range(8))
    control = "".join(f'<reg name="{name}" bitsize="32" type="int" group="float"/>' for name in X87_CONTROL)
    return ('<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd">'
            '<target version="1.0"><architecture>i386</architecture>'
            f'<feature name="org.gnu.gdb.i386.core">{core}{st}{control}</feature></target>')


TARGET_XML = _target_xml()


def parse_address(spec):
    """`tcp::PORT` or `tcp:HOST:PORT` (QEMU's -gdb) -> (host, port); port 0 picks a free one."""
    parts = spec.split(":")
    if len(parts) != 3 or parts[0] != "tcp" or not parts[2].isdigit() or not 0 <= int(parts[2]) < 65536:
        raise VmmError(f"-gdb {spec!r}: expected tcp::PORT or tcp:HOST:PORT")
    return parts[1] or "127.0.0.1", int(parts[2])


def checksum(data):
    return sum(data) & 0xFF


def frame(payload):
    """The packet for `payload` (bytes), with $, # and the checksum; }#$* escaped."""
    escaped = bytearray()
    for byte in payload:
        if byte in b"#$}*":
            escaped += bytes((0x7D, byte ^ 0x20))
        else:
            escaped.append(byte)
    return b"$" + bytes(escaped) + b"#" + f"{checksum(escaped):02x}".encode()


class Connection:
    """One gdb connection: reads packets (checking checksums), sends replies."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = bytearray()
        self.ack = True
        self.interrupted = False         # a 0x03 arrived

    def _fill(self, block):
        if not block and not select.select([self.sock], [], [], 0)[0]:
            return False
        data = self.sock.recv(4096)
        if not data:
            raise ConnectionError("gdb closed the connection")
        self.buffer += data
        return True

    def poll_interrupt(self):
        """While the guest runs: True if gdb sent Ctrl-C (0x03)."""
        while self._fill(block=False):
            pass
        if 3 in self.buffer:
            del self.buffer[self.buffer.index(3)]
            return True
        return False

    def read_packet(self):
        """The next packet's payload (bytes), acknowledged; blocks until one arrives."""
        while True:
            start = self.buffer.find(b"$")
            if 3 in self.buffer[:start if start >= 0 else len(self.buffer)]:
                self.interrupted = True
            if start >= 0:
                end = self.buffer.find(b"#", start)
                if end >= 0 and len(self.buffer) >= end + 3:
                    body = bytes(self.buffer[start + 1:end])
                    sent = self.buffer[end + 1:end + 3]
                    del self.buffer[:end + 3]
                    good = f"{checksum(body):02x}".encode() == bytes(sent).lower()
                    if self.ack:
                        self.sock.sendall(b"+" if good else b"-")
                    if good:
                        return _unescape(body)
                    continue
            self._fill(block=True)

    def send(self, payload):
        if isinstance(payload, str):
            payload = payload.encode("latin-1")
        self.sock.sendall(frame(payload))
        while self.ack:                           # wait for gdb's + (resend on -)
            while not self.buffer:
                self._fill(block=True)
            mark = self.buffer[0]
            del self.buffer[0]
            if mark == ord("+"):
                return
            if mark == ord("-"):
                self.sock.sendall(frame(payload))


def _unescape(body):
    out = bytearray()
    escape = False
    for byte in body:
        if escape:
            out.append(byte ^ 0x20)
            escape = False
        elif byte == 0x7D:
            escape = True
        else:
            out.append(byte)
    return bytes(out)


def _le_hex(value, size):
    return value.to_bytes(size, "little").hex()


class GdbStub:
    """Serves gdb for one Machine; `run()` replaces Machine.run while a debugger may attach."""

    def __init__(self, machine, port=1234, host="127.0.0.1", wait=False):
        self.m = machine
        self.wait = wait
        self.listener = socket.create_server((host, port), reuse_port=False)
        self.port = self.listener.getsockname()[1]
        self.conn = None
        self.total = 0                   # guest instructions retired under this stub
        self.seconds = 0.0               # time the guest spent running
        self.killed = False

    # ---- running -----------------------------------------------------------------------------
    def run(self, max_insns=None, timeout=None):
        """Run the guest as Machine.run does, serving gdb: with `wait` (-S) nothing runs until
        gdb connects and continues or steps.  Ends when the guest ends or gdb kills it."""
        try:
            outcome = None
            if self.wait:
                self._accept(block=True)
                outcome = self._serve(None)
            while outcome is None or outcome.reason == "resume":
                result = self._continue(max_insns, timeout)
                if result.reason == "attach":                  # gdb connected while it ran
                    outcome = self._serve(None)
                elif result.reason in ("breakpoint", "interrupt"):
                    outcome = self._serve(result)
                elif result.reason == "error" and self.conn is not None:
                    self._serve(result)                        # gdb may look at the dead guest
                    return result
                else:                                          # the guest ended, or a limit
                    if self.conn is not None:
                        self.conn.send(self._stop_reply(result))
                    return result
            return outcome
        finally:
            self.close()

    def _continue(self, max_insns, timeout):
        """Run until the guest stops, a breakpoint, Ctrl-C, a new gdb connection, or a limit."""
        m = self.m
        m.step_over = (m.state.icount, m.state.eip)
        while True:
            left = None if max_insns is None else max_insns - self.total
            if left is not None and left <= 0:
                return self._result("limit")
            if timeout is not None and self.seconds >= timeout:
                return self._result("timeout")
            slice_seconds = SLICE_SECONDS if timeout is None else min(SLICE_SECONDS, timeout - self.seconds)
            result = m.run(max_insns=left, timeout=slice_seconds)
            self._account(result)
            if result.reason != "timeout":
                return self._result(result.reason, result)
            if self.conn is None:
                if self._accept(block=False):
                    return self._result("attach")
                continue
            try:
                if self.conn.poll_interrupt():
                    return self._result("interrupt")
            except (ConnectionError, OSError):
                self._drop_connection()

    def _account(self, result):
        self.total += result.instructions
        self.seconds += result.seconds

    def _result(self, reason, last=None):
        if last is None:
            return RunResult(reason, self.total, self.seconds)
        return RunResult(reason, self.total, self.seconds, last.exit_code, last.message, last.fault)

    def _accept(self, block):
        if not block and not select.select([self.listener], [], [], 0)[0]:
            return False
        sock, _ = self.listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = Connection(sock)
        return True

    # ---- the command loop --------------------------------------------------------------------
    def _serve(self, stopped):
        """Answer gdb while the guest is stopped; return when it resumes (None: continue) or
        ends (a RunResult).  `stopped` is why it stopped (None: not started yet)."""
        if stopped is not None and self.conn is not None:
            self.conn.send(self._stop_reply(stopped))
        while self.conn is not None:
            try:
                packet = self.conn.read_packet().decode("latin-1")
            except (ConnectionError, OSError):
                self._drop_connection()
                return None
            if self.conn.interrupted:             # Ctrl-C while already stopped
                self.conn.interrupted = False
            outcome = self._command(packet)
            if outcome is not None:
                return outcome
        return None

    def _stop_reply(self, result):
        if result.reason == "exit":
            return f"W{result.exit_code & 0xFF:02x}"
        if result.reason in ("halt", "limit", "timeout"):
            return "W00"
        if result.reason == "error":
            return f"S{SIGSEGV:02x}"
        return f"S{SIGINT if result.reason == 'interrupt' else SIGTRAP:02x}"

    def _command(self, packet):
        """Handle one packet; a RunResult (the guest resumes, ended or was killed) ends serving."""
        kind, body = packet[:1], packet[1:]
        if kind in ("c", "C", "s", "S") or packet.startswith("vCont;"):
            return self._resume(packet)
        if kind == "k":
            self.killed = True
            self._drop_connection()
            self.m.set_breakpoints(())
            return RunResult("stop", self.total, self.seconds, 0, "killed by gdb")
        if kind == "D":
            self.conn.send("OK")
            self._drop_connection()
            self.m.set_breakpoints(())
            return None
        reply = self._query(kind, body, packet)
        if reply is not None:
            self.conn.send(reply)
        return None

    def _resume(self, packet):
        """c/s (and C/S, vCont): a step runs one instruction and answers at once; a continue
        returns the "resume" marker to `run`."""
        step = packet[0] in "sS" or packet.startswith(("vCont;s", "vCont;S"))
        if not step:
            return self._result("resume")
        m = self.m
        m.step_over = (m.state.icount, m.state.eip)
        result = m.run(max_insns=1)
        self._account(result)
        if result.reason == "limit":
            result = RunResult("step", self.total, self.seconds)
        if result.reason in ("exit", "halt"):
            self.conn.send(self._stop_reply(result))
            return self._result(result.reason, result)
        self.conn.send(self._stop_reply(result))
        return None

    def _query(self, kind, body, packet):
        """The reply to a packet that does not resume the guest (None: already answered)."""
        m = self.m
        if packet.startswith("qSupported"):
            return "PacketSize=4000;qXfer:features:read+;QStartNoAckMode+;vContSupported+"
        if packet == "QStartNoAckMode":
            self.conn.send("OK")               # still acknowledged; no acks from here on
            self.conn.ack = False
            return None
        if packet.startswith("qXfer:features:read:target.xml:"):
            offset, length = (int(x, 16) for x in packet.rsplit(":", 1)[1].split(","))
            chunk = TARGET_XML[offset:offset + length]
            return ("l" if offset + length >= len(TARGET_XML) else "m") + chunk
        if packet == "vCont?":
            return "vCont;c;C;s;S"
        if packet == "?":
            return f"S{SIGTRAP:02x}"
        if packet in ("qAttached",):
            return "1"
        if packet == "qC":
            return "QC1"
        if packet == "qfThreadInfo":
            return "m1"
        if packet == "qsThreadInfo":
            return "l"
        if kind == "H" or kind == "T":
            return "OK"
        if kind == "g":
            return "".join(self._register_hex(n) for n in range(REGISTER_COUNT))
        if kind == "G":
            for n, name in enumerate(CORE):
                if len(body) >= 8 * (n + 1):
                    m.reg_write(name, int.from_bytes(bytes.fromhex(body[8 * n:8 * n + 8]), "little"))
            return "OK"
        if kind == "p":
            number = int(body, 16)
            return self._register_hex(number) if number < REGISTER_COUNT else "E00"
        if kind == "P":
            number, value = body.split("=")
            number = int(number, 16)
            if number < len(CORE):
                m.reg_write(CORE[number], int.from_bytes(bytes.fromhex(value), "little"))
            return "OK"
        if kind == "m":
            addr, length = (int(x, 16) for x in body.split(","))
            try:
                return m.mem_read(addr, length).hex()
            except VmmError:
                return "E14"
        if kind == "M":
            where, data = body.split(":")
            addr, length = (int(x, 16) for x in where.split(","))
            try:
                m.mem_write(addr, bytes.fromhex(data)[:length])
            except VmmError:
                return "E14"
            return "OK"
        if kind in ("Z", "z") and body[:1] in ("0", "1"):
            addr = int(body.split(",")[1], 16)
            points = set(m.breakpoints)
            if kind == "Z":
                points.add(addr)
            else:
                points.discard(addr)
            m.set_breakpoints(points)
            return "OK"
        return ""

    def _register_hex(self, number):
        s = self.m.state
        if number < len(CORE):
            return _le_hex(self.m.reg_read(CORE[number]), 4)
        fpu = s.fpu
        number -= len(CORE)
        if number < 8:                          # the FNSAVE image holds ST(i) in stack order
            return bytes(fpu.st[number]).hex()
        name = X87_CONTROL[number - 8]
        value = {"fctrl": fpu.cw & 0xFFFF, "fstat": fpu.sw & 0xFFFF, "ftag": fpu.tw & 0xFFFF,
                 "fiseg": fpu.fcs & 0xFFFF, "fioff": fpu.fip, "foseg": fpu.fds & 0xFFFF, "fooff": fpu.fdp,
                 "fop": (fpu.fcs >> 16) & 0x7FF}[name]
        return _le_hex(value, 4)

    def _drop_connection(self):
        if self.conn is not None:
            self.conn.sock.close()
            self.conn = None

    def close(self):
        self._drop_connection()
        self.listener.close()
