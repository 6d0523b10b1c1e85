"""Limits that always hold, on every engine, whatever the guest does: `max_insns` stops at
exactly N instructions (the same count, and the same state, on the interpreter and the
translator), and `timeout` stops within about S seconds, with hostile guests: rep string
I/O with a huge count, code that keeps missing the translation cache (zero-filled RAM, code
rewriting itself each pass), and lockstep checking.  Also the engines' agreement on code
that runs off the end of RAM."""

import subprocess
import sys
import time

import pytest

from tests.asmguest import ENGINE_VARIANTS, assemble, machine_with, new_machine
from vmm.lockstep import lockstep, snapshot

# A loop of blocks of several lengths, so a budget ends inside blocks of every size.
LOOP = """
    mov ecx, 100000
    xor eax, eax
top:
    add eax, ecx
    rol eax, 3
    test ecx, 7
    jnz skip
    xor eax, 0x55
    inc edx
skip:
    dec ecx
    jnz top
    cli
    hlt
"""

# rep outsb to the POST port, rep insb from it: with ECX = 2^32 - 1 each is 4 billion
# iterations, every one a retired instruction.  The outer loop keeps ESI/EDI inside RAM.
REP_IO = """
again:
    mov esi, 0x2000
    mov edi, 0x3000
    mov dx, 0x80
    mov ecx, 0xffffffff
    rep outsb
    mov ecx, 0x100000
    rep insb
    jmp again
"""
REP_OUTSB = 0x1000 + 5 + 5 + 4 + 5          # the address of `rep outsb` in REP_IO

# Rewrites an immediate of its own loop on every pass: the translator hands it to the
# interpreter (SMC_LIMIT), where it runs slowly for ever.
SELF_MODIFYING = """
top:
    mov byte ptr [patch + 1], cl
patch:
    mov eax, 0
    inc ecx
    jmp top
"""

# Jumps into zero-filled RAM: `add byte ptr [eax], al` (00 00) a million times over, every
# 64 of them a block never seen before.
ZERO_RAM = """
    mov eax, 0x1800
    mov ebx, 0x10000
    jmp ebx
"""

# Writes 0 to isa-debug-exit at once.
EXIT = """
    mov dx, 0xf4
    xor eax, eax
    out dx, al
    hlt
"""


@pytest.mark.parametrize("budget", [1, 2, 10, 63, 64, 65, 1000, 12_345])
def test_max_insns_is_exact_and_the_same_on_every_engine(budget):
    states = []
    for engine in ENGINE_VARIANTS:
        m = machine_with(engine, LOOP)
        result = m.run(max_insns=budget)
        assert result.reason == "limit" and result.instructions == budget == m.state.icount, engine
        states.append(snapshot(m))
    assert states[0] == states[1] == states[2]


def test_exact_budgets_resume_where_they_stopped():
    # Many small runs in a row (tier-2 code appears in between) end where one long run does.
    runs = {}
    for engine in ENGINE_VARIANTS:
        m = machine_with(engine, LOOP)
        for budget in (7, 3000, 1, 64, 5000, 33):
            assert m.run(max_insns=budget).instructions == budget
            if m.translator is not None:
                m.translator.drain()
        runs[engine] = snapshot(m)
    assert runs["interp"] == runs["jit"] == runs["jit-tier2"]


@pytest.mark.parametrize("engine", ENGINE_VARIANTS)
def test_rep_string_io_retires_one_iteration_at_a_time(engine):
    m = machine_with(engine, REP_IO)
    result = m.run(max_insns=4 + 1000)
    assert result.reason == "limit" and m.state.icount == 1004
    assert m.reg_read("eip") == REP_OUTSB                # still on the instruction...
    assert m.reg_read("ecx") == 0xFFFFFFFF - 1000        # ...with ECX saying how far it got
    assert m.reg_read("esi") == 0x2000 + 1000


def test_rep_insb_continues_after_an_interruption_to_its_end():
    m = machine_with("jit", REP_IO.replace("0xffffffff", "3"))
    m.run(max_insns=4 + 3 + 1 + 1000)                    # into the rep insb
    assert m.reg_read("ecx") == 0x100000 - 1000 and m.reg_read("edi") == 0x3000 + 1000
    m.run(max_insns=0x100000 - 1000)                     # exactly to its end
    assert m.reg_read("ecx") == 0 and m.reg_read("eip") == REP_OUTSB + 2 + 5 + 2


@pytest.mark.parametrize("engine", ENGINE_VARIANTS)
@pytest.mark.parametrize("guest", ["rep_io", "self_modifying", "zero_ram"])
def test_timeout_holds_against_slow_guests(engine, guest):
    m = machine_with(engine, {"rep_io": REP_IO, "self_modifying": SELF_MODIFYING, "zero_ram": ZERO_RAM}[guest],
                     memory_mb=64)
    start = time.perf_counter()
    result = m.run(timeout=0.4)
    elapsed = time.perf_counter() - start
    assert result.reason == "timeout", result
    assert elapsed < 2, f"{guest} on {engine}: {elapsed:.2f} s for a 0.4 s timeout"


@pytest.mark.parametrize("engine", ENGINE_VARIANTS)
def test_an_exit_after_the_deadline_passed_is_the_guests_exit_not_a_timeout(engine):
    m = machine_with(engine, EXIT)

    def slow_exit(port, size, value):            # the deadline passes during the exit itself
        time.sleep(0.3)
        m.io.write(port, size, value)

    m.hook_port(0xF4, write=slow_exit)
    assert m.run(max_insns=2).reason == "limit"  # engine set up (LLVM), up to the out, untimed
    result = m.run(timeout=0.1)
    assert result.reason == "exit" and result.exit_code == 1


def test_lockstep_stops_at_its_timeout():
    start = time.perf_counter()
    report = lockstep(machine_with("jit", SELF_MODIFYING), machine_with("interp", SELF_MODIFYING), timeout=0.4)
    assert report.reason == "timeout" and not report.divergence
    assert time.perf_counter() - start < 1.5


def test_check_on_the_command_line_honours_timeout(tmp_path):
    image = tmp_path / "spin.bin"
    image.write_bytes(assemble(SELF_MODIFYING, 0x100000))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "vmm", "run", str(image), "--load-address", "0x100000",
                           "--check", "--timeout", "0.5", "-m", "4"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 124, done.stderr
    assert "timeout" in done.stderr and time.perf_counter() - start < 10


# ---- code running off the end of RAM ---------------------------------------------------------
@pytest.mark.parametrize("tail", [b"", bytes.fromhex("b80102")], ids=["at-the-end", "cut-off-insn"])
def test_code_running_off_the_end_of_ram_runs_up_to_the_fetch_fault(tail):
    code = assemble("inc eax\ninc eax\ninc ebx") + tail
    start = (2 << 20) - len(code)
    fault_at = start + 3
    machines = []
    for engine in ENGINE_VARIANTS:
        m = new_machine(engine, memory_mb=2)
        m.mem_write(start, code)
        m.reg_write("eip", start)
        result = m.run(max_insns=100)
        assert result.reason == "error" and "guest RAM" in result.message, (engine, result)
        assert result.instructions == 3 and m.reg_read("eip") == fault_at, engine
        assert (m.reg_read("eax"), m.reg_read("ebx")) == (2, 1), engine
        machines.append(m)
    shadow = new_machine("interp", memory_mb=2)
    primary = new_machine("jit", memory_mb=2)
    for m in (primary, shadow):
        m.mem_write(start, code)
        m.reg_write("eip", start)
    report = lockstep(primary, shadow)
    assert not report.divergence and report.reason.startswith("error"), report.describe()
