"""QEMU-style trace logs (vmm/debug/trace.py) and the -s/-S/-gdb/-d/-D options that turn the
debugging tools on (vmm/debug/options.py)."""

import argparse
import io
import re

import pytest

from tests.asmguest import ENGINE_VARIANTS, machine_with
from vmm.debug.options import add_debug_options, apply_debug_options
from vmm.debug.trace import Trace
from vmm.errors import VmmError
from vmm.lockstep import snapshot

# A loop (one block run three times), a callout, and an exception through the IDT: an IDT at
# 0x3000 whose gate 3 (#BP) points at `handler`, and a GDT at 0x2800 with its code segment.
GUEST = """
    mov ecx, 3
top:
    add eax, ecx
    dec ecx
    jnz top
    mov dx, 0x80
    out dx, al
    mov dword ptr [0x2808], 0x0000ffff
    mov dword ptr [0x280c], 0x00cf9a00
    mov word ptr [0x2010], 15
    mov dword ptr [0x2012], 0x2800
    lgdt [0x2010]
    mov word ptr [0x2000], 0x7ff
    mov dword ptr [0x2002], 0x3000
    lidt [0x2000]
    mov dword ptr [0x3000 + 3*8], handler
    mov dword ptr [0x3000 + 3*8 + 4], 0x8e00
    mov word ptr [0x3000 + 3*8 + 2], 8
    int3
    cli
    hlt
handler:
    mov ebx, 0x77
    iretd
"""


def _traced(engine, spec):
    m = machine_with(engine, GUEST)
    out = io.StringIO()
    m.trace = Trace.from_spec(spec, out)
    result = m.run(max_insns=1000)
    assert result.reason == "halt" and m.reg_read("ebx") == 0x77
    return m, out.getvalue()


@pytest.mark.parametrize("engine", ENGINE_VARIANTS)
def test_interrupts_and_callouts_are_logged_the_same_on_every_engine(engine):
    _, log = _traced(engine, "int,callout")
    assert "CALLOUT: 0x0000100e: out dx, al [0x80, 0x6]" in log
    assert re.search(r"CALLOUT: 0x[0-9a-f]+: lidt .*\[mem@0x[0-9a-f]+\]", log)
    assert re.search(r"INT: vector=0x03 \(#BP[^)]*\) eip=0x[0-9a-f]+: int3", log)
    assert "CALLOUT: " in log.split("INT:")[1]          # the iretd after the interrupt
    assert log == _traced("interp", "int,callout")[1]   # same lines as the interpreter's


@pytest.mark.parametrize("engine", ["jit", "jit-tier2"])
def test_exec_logs_every_block_without_chaining(engine):
    plain = machine_with(engine, GUEST)
    plain.run(max_insns=1000)
    m, log = _traced(engine, "in_asm,exec,cpu")
    assert log.startswith("IN:\n0x00001000:  b903000000")
    executed = re.findall(r"^Trace: (0x[0-9a-f]+) \[(\d+)\]", log, re.M)
    loop = [count for address, count in executed if int(address, 16) == 0x1005]
    assert loop == ["1", "2"]                           # the loop block's 2nd and 3rd pass chain
    assert log.count("EIP=") == len(executed)           # a cpu dump before each block
    assert "EIP=00001005" in log and "ECX=00000002" in log
    assert snapshot(m) == snapshot(plain)               # nochain changes nothing the guest sees


def test_unknown_log_items_are_refused():
    with pytest.raises(VmmError, match="unknown log item bogus"):
        Trace.from_spec("int,bogus", io.StringIO())


def _args(argv):
    parser = argparse.ArgumentParser()
    add_debug_options(parser)
    return parser.parse_args(argv)


def test_options_turn_on_tracing_into_a_file(tmp_path):
    m = machine_with("jit", GUEST)
    log = tmp_path / "vmm.log"
    run = apply_debug_options(_args(["-d", "int", "-D", str(log)]), m)
    assert run == m.run and run(max_insns=1000).reason == "halt"
    assert "INT: vector=0x03" in log.read_text()


def test_options_refuse_bad_values(tmp_path):
    m = machine_with("jit", GUEST)
    with pytest.raises(VmmError, match="-D"):
        apply_debug_options(_args(["-d", "int", "-D", str(tmp_path / "missing" / "log")]), m)
    with pytest.raises(VmmError, match="-gdb"):
        apply_debug_options(_args(["-gdb", "tcp:1234"]), m)


def test_gdb_options_start_a_stub_on_the_port():
    m = machine_with("jit", GUEST)
    run = apply_debug_options(_args(["-gdb", "tcp::0"]), m)     # no -S: runs without a debugger
    result = run(max_insns=1000)
    assert result.reason == "halt" and result.instructions == m.state.icount
