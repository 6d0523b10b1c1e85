"""Port I/O, hlt, invlpg, mov cr3 and data segment loads from translated code through the
monitor's callback (vmm.translator.monitorcall).

Every guest runs on each engine of ENGINE_VARIANTS (tests/translator/conftest.py) and is
compared with the interpreter (which always runs the handler itself): registers,
instruction count, virtual time, what devices saw; on the jit engines the callback's
counters say the native path really ran (or declined).  Covered: devices through imm8 and
DX ports, an IRQ raised by an `out`, the I/O bitmap's #GP (no device access), isa-debug-exit,
a fault after the access, a host error, tracing, string I/O, invlpg, CR3 reloads between two
address spaces, DS/ES/FS/GS loads (and one that faults, left to the interpreter), and hlt
woken by timers in translated code (exact budgets, timeouts, two timers, a triple fault)."""

import io
import struct
import time
from dataclasses import replace

import pytest

from tests.asmguest import FLAT_TABLES, ORIGIN, labels, machine_with, new_machine, set_gate
from tests.x86.ringguest import frame, handler_state, ring_machine
from vmm.bench.workloads import MICRO
from vmm.debug.trace import Trace
from vmm.errors import GuestFault
from vmm.lockstep import snapshot
from vmm.x86.exceptions import GP

ROUNDS = 60                   # loop passes: enough for the jit to translate the loop (JIT_THRESHOLD)

# POST port, CMOS index and data, PIT counter 0 read (mode 2, LSB only), port B, and a
# hooked port that answers with the instruction count the handler sees, through imm8 and DX.
DEVICES = f"""
    mov al, 0x14
    out 0x43, al
    mov al, 0xf0
    out 0x40, al
    mov ecx, {ROUNDS}
    xor esi, esi
again:
    mov al, cl
    out 0x80, al
    and al, 7
    out 0x70, al
    in al, 0x71
    movzx eax, al
    rol esi, 7
    xor esi, eax
    in al, 0x40
    rol esi, 3
    xor esi, eax
    mov dx, 0x61
    in al, dx
    rol esi, 5
    xor esi, eax
    in eax, 0xe0
    rol esi, 1
    xor esi, eax
    mov dx, 0xe4
    in ax, dx
    add esi, eax
    loop again
    cli
    hlt
"""


def run_guest(engine, src, max_insns=100_000, setup=None, expect="halt"):
    m = machine_with(engine, src)
    if setup is not None:
        setup(m)
    result = m.run(max_insns=max_insns)
    assert result.reason == expect, result.message
    return m, result


def gate_setup(src, handlers):
    """(labels of `src`, a setup function filling the IDT gates {vector: handler label})."""
    where = labels(src)

    def setup(m):
        for vector, label in handlers.items():
            set_gate(m, vector, where[label])
    return where, setup


def counts(m):
    """(instructions run through the callback, declined), or None on the interpreter."""
    return None if m.translator is None else (m.translator.monitor_call.done, m.translator.monitor_call.declined)


def icount_port(m):
    """Ports 0xE0 (dword) and 0xE4 (word) read as the instruction count the handler sees."""
    for port in (0xE0, 0xE4):
        m.hook_port(port, read=lambda port, size: m.state.icount)


def test_port_io_to_devices_matches_the_interpreter(engine):
    ref, _ = run_guest("interp", DEVICES, setup=icount_port)
    m, _ = run_guest(engine, DEVICES, setup=icount_port)
    assert snapshot(m) == snapshot(ref)
    assert m.devices["post"].last_code == ref.devices["post"].last_code == 1
    if m.translator is not None:
        done, declined = counts(m)
        assert done > 6 * (ROUNDS - 20) and declined == 0


# The UART raises IRQ 4 as soon as its transmitter-empty interrupt is enabled (IER bit 1):
# the last pass's `out dx, al` writes IER instead of port 0x80, and the interrupt must be
# taken right after that out, on every engine.
# ICW1-4 (vectors 0x20-0x27, cascade, 8086 mode), then OCW1 masking all but IRQ 4.
# An interrupt handler that records where it interrupted (0x7000) and ECX (0x7004), then stops.
RECORD_AND_HALT = f"""
    mov eax, [esp]
    mov [0x7000], eax
    mov [0x7004], ecx
    cli
    hlt
{FLAT_TABLES}
"""
PIC_IRQ4_ONLY = "".join(f"    mov al, {value:#x}\n    out {port:#x}, al\n" for port, value in
                        ((0x20, 0x11), (0x21, 0x20), (0x21, 4), (0x21, 1), (0x21, 0xEF)))
IRQ_FROM_OUT = f"""
    lgdt [gdtr]
    lidt [idtr]
{PIC_IRQ4_ONLY}    mov dx, 0x3fc
    mov al, 8
    out dx, al                       ; MCR OUT2: the UART's interrupt reaches the PIC
    sti
    mov ecx, {ROUNDS}
again:
    mov dx, 0x80
    cmp ecx, 1
    jne go
    mov dx, 0x3f9
go:
    mov al, 2
    out dx, al
after_out:
    inc ebx
    loop again
    cli
    hlt
irq4:{RECORD_AND_HALT}"""


def test_an_irq_raised_by_out_is_taken_after_that_instruction(engine):
    where, setup = gate_setup(IRQ_FROM_OUT, {0x24: "irq4"})
    ref, ref_result = run_guest("interp", IRQ_FROM_OUT, setup=setup)
    m, result = run_guest(engine, IRQ_FROM_OUT, setup=setup)
    assert m.mem_read(0x7000, 8) == ref.mem_read(0x7000, 8)
    assert int.from_bytes(m.mem_read(0x7000, 4), "little") == where["after_out"]
    assert int.from_bytes(m.mem_read(0x7004, 4), "little") == 1 and m.reg_read("ebx") == ROUNDS - 1
    assert result.instructions == ref_result.instructions and snapshot(m) == snapshot(ref)
    if m.translator is not None:
        assert counts(m)[0] >= ROUNDS - 20          # the IER write among them: the loop is translated


# Ring 3 with IOPL 0: port 0x80 is allowed by the I/O bitmap, 0x81 is not.  The last pass's
# `in al, dx` reads 0x81 from the translated block: #GP(0) at that instruction, and the
# device never sees the read.
RING3_IN = f"""
    mov ecx, {ROUNDS}
again:
    mov dx, 0x80
    cmp ecx, 1
    jne go
    mov dx, 0x81
go:
fault:
    in al, dx
    loop again
"""


def _ring3(engine, reads):
    m = ring_machine(engine, RING3_IN, io_map={0x80: True})
    m.hook_port(0x81, read=lambda port, size: reads.append(port) or 0)
    result = m.run(max_insns=100_000)
    assert result.reason == "halt", result.message
    return m


def test_in_from_ring3_denied_by_the_io_bitmap_faults_without_a_device_access(engine):
    reads, ref_reads = [], []
    ref, m = _ring3("interp", ref_reads), _ring3(engine, reads)
    assert frame(m)[:2] == (0, m.labels["fault"]) and frame(m) == frame(ref)
    assert handler_state(m) == handler_state(ref) and snapshot(m) == snapshot(ref)
    assert reads == ref_reads == []
    if m.translator is not None:
        done, declined = counts(m)
        assert done >= ROUNDS - 20 and declined == 1


DEBUG_EXIT = f"""
    mov ecx, {ROUNDS}
again:
    mov dx, 0x80
    cmp ecx, 1
    jne go
    mov dx, 0xf4
go:
    mov al, 0x21
    out dx, al
    inc ebx
    loop again
    mov eax, 0x99
    cli
    hlt
"""


def test_isa_debug_exit_from_translated_code_stops_the_run(engine):
    ref, ref_result = run_guest("interp", DEBUG_EXIT, expect="exit")
    m, result = run_guest(engine, DEBUG_EXIT, expect="exit")
    assert result.exit_code == ref_result.exit_code == 0x43
    assert result.instructions == ref_result.instructions and snapshot(m) == snapshot(ref)
    assert m.reg_read("ecx") == 1 and m.reg_read("ebx") == ROUNDS - 1        # stopped right after the out
    if m.translator is not None:
        assert counts(m)[0] >= ROUNDS - 20


# A port hook that faults once it has seen the access: the fault comes after a device
# access, so the callback delivers it itself (the instruction must not run twice).
HOOK_FAULT = f"""
    lgdt [gdtr]
    lidt [idtr]
    mov ecx, {ROUNDS}
again:
fault:
    in al, 0xe8
    loop again
    cli
    hlt
gp:                                  ; error code and EIP
    mov eax, [esp]
    mov [0x7000], eax
    mov eax, [esp + 4]
    mov [0x7004], eax
    cli
    hlt
{FLAT_TABLES}
"""


def _faulting_hook(m, reads):
    def read(port, size):
        reads.append(m.reg_read("ecx"))
        if reads[-1] == 1:
            raise GuestFault(GP, 0, "test hook")
        return 0
    set_gate(m, GP, labels(HOOK_FAULT)["gp"])
    m.hook_port(0xE8, read=read)


def test_a_fault_after_the_device_access_is_delivered_once(engine):
    reads, ref_reads = [], []
    ref, _ = run_guest("interp", HOOK_FAULT, setup=lambda m: _faulting_hook(m, ref_reads))
    m, _ = run_guest(engine, HOOK_FAULT, setup=lambda m: _faulting_hook(m, reads))
    assert reads == ref_reads and len(reads) == ROUNDS
    assert m.mem_read(0x7000, 8) == ref.mem_read(0x7000, 8) and snapshot(m) == snapshot(ref)
    assert m.mem_read(0x7000, 8) == bytes(4) + labels(HOOK_FAULT)["fault"].to_bytes(4, "little")   # #GP(0) there
    if m.translator is not None:
        done, declined = counts(m)
        assert done >= ROUNDS - 20 and declined == 0


class HookBroke(Exception):
    pass


def test_a_host_error_in_a_handler_reaches_the_caller(engine):
    def setup(m):
        def read(port, size):
            if m.reg_read("ecx") == 1:
                raise HookBroke("device model bug")
            return 0
        m.hook_port(0xE8, read=read)
    states = []
    for name in ("interp", engine):
        m = machine_with(name, HOOK_FAULT)
        setup(m)
        with pytest.raises(HookBroke):
            m.run(max_insns=100_000)
        states.append((snapshot(m), m.state.icount))
    assert states[0] == states[1]


@pytest.mark.parametrize("jit_engine", ["jit", "jit-tier2"])
def test_tracing_keeps_port_io_in_the_monitor(jit_engine):
    m = machine_with(jit_engine, DEVICES)
    icount_port(m)
    m.trace = Trace.from_spec("int", io.StringIO())
    ref, _ = run_guest("interp", DEVICES, setup=icount_port)
    assert m.run(max_insns=100_000).reason == "halt"
    assert snapshot(m) == snapshot(ref)
    assert counts(m)[0] == 0


# ---- hlt: woken by the PIT without leaving translated code -----------------------------------
# vmm.bench.workloads' timer_irq: paging on, the PIT's IRQ 0 every 84 us wakes `hlt` in a loop
# of TICKS passes; the handler sends EOI (`out 0x20, al`) and returns with iretd.
TICKS = 300


def timer_machine(engine, ticks=TICKS, workload=MICRO["timer_irq"]):
    m = new_machine(engine)
    m.mem_write(ORIGIN, workload.assemble(ticks))
    m.reg_write("eip", ORIGIN)
    return m


def wakes(m):
    """hlts woken without leaving translated code: by the monitor's callback, or natively
    (vmm.translator.devicepath)."""
    return m.translator.monitor_call.wakes + m.translator.stats()["fast_paths"]["fast_wake"]


def same_time(m, ref):
    """The same architectural state and the same virtual time (the TSC skipped in hlt)."""
    assert snapshot(m) == snapshot(ref) and m.state.tsc == ref.state.tsc


def test_timer_ticks_wake_hlt_in_translated_code(engine):
    results = []
    for name in ("interp", engine):
        m = timer_machine(name)
        results.append((m, m.run(max_insns=1_000_000)))
    (ref, ref_result), (m, result) = results
    assert result.reason == ref_result.reason == "halt" and result.instructions == ref_result.instructions
    same_time(m, ref)
    if m.translator is not None:
        assert wakes(m) > TICKS - 40                               # all but the warm-up ticks
        assert m.translator.entries < 40                           # ...without returning to Python


@pytest.mark.parametrize("budget", [1_234, 2_501, 3_000])
def test_max_insns_stops_a_hlt_loop_exactly(engine, budget):
    ref, m = timer_machine("interp"), timer_machine(engine)
    for machine in (ref, m):
        assert machine.run(max_insns=budget).reason == "limit"
    same_time(m, ref)


# The same with the PIT's longest period (65536 clocks, 55 ms of guest time): the budget a
# slice gets, cut at the next deadline, would let translated code sleep through hundreds of
# thousands of ticks before the monitor loop looks at the wall clock again.
SLOW_TICKS = replace(MICRO["timer_irq"], prologue=MICRO["timer_irq"].prologue.replace("mov al, 100\n", "mov al, 0\n"))


def runs_out_of_time(m, within):
    """run(timeout=0.4) ends with the timeout, less than `within` seconds after it started."""
    start = time.perf_counter()
    result = m.run(timeout=0.4)
    elapsed = time.perf_counter() - start
    assert result.reason == "timeout", result
    assert elapsed < within, f"{elapsed:.2f} s for a 0.4 s timeout"


def test_timeout_stops_a_hlt_loop_that_never_ends(engine):
    m = timer_machine(engine, ticks=1 << 30, workload=SLOW_TICKS)
    m.run(max_insns=20_000)                      # translated (tier 2 takes a while) and ticking
    woken = wakes(m) if m.translator is not None else 0
    runs_out_of_time(m, 2)
    if m.translator is not None:
        assert wakes(m) - woken > 1000


# `sti; hlt` with IRQ 1 raised by the host while IF was clear: the sti shadow holds it, hlt
# sleeps, and the interrupt returns right after the hlt, in a loop the jit translates.
STI_HLT = f"""
    lgdt [gdtr]
    lidt [idtr]
{PIC_IRQ4_ONLY.replace("0xef", "0xfd")}
    mov ecx, {ROUNDS}
again:
    cli
    out 0x99, al
    sti
    hlt
after_hlt:
    loop again
    cli
    hlt
irq1:
    mov eax, [esp]
    mov [0x7000], eax
    inc dword ptr [0x7004]
    mov al, 0x20
    out 0x20, al
    iretd
{FLAT_TABLES}
"""


def test_sti_hlt_with_an_interrupt_waiting_returns_after_the_hlt(engine):
    where, gates = gate_setup(STI_HLT, {0x21: "irq1"})

    def setup(m):
        gates(m)
        m.hook_port(0x99, write=lambda port, size, value: m.pic.raise_irq(1) or m.pic.lower_irq(1))
    ref, _ = run_guest("interp", STI_HLT, setup=setup)
    m, _ = run_guest(engine, STI_HLT, setup=setup)
    assert m.mem_read(0x7000, 8) == where["after_hlt"].to_bytes(4, "little") + ROUNDS.to_bytes(4, "little")
    same_time(m, ref)


# Two timers: the PIT every 8.4 us on IRQ 0 and the RTC's periodic interrupt every 122 us on
# IRQ 8, whose handlers add up the virtual time they are entered at (rdtsc).  Each pass
# sleeps in hlt, then works for 10,000 instructions, across timer deadlines: after a wake in
# translated code the budget must be cut at the next deadline, whichever timer's it is, or
# an interrupt is taken later than the interpreter takes it.
TWO_TIMERS = f"""
    lgdt [gdtr]
    lidt [idtr]
{PIC_IRQ4_ONLY.replace("0xef", "0xfa")}
""" + "".join(f"    mov al, {value:#x}\n    out {port:#x}, al\n" for port, value in (
    (0xA0, 0x11), (0xA1, 0x28), (0xA1, 2), (0xA1, 1), (0xA1, 0xFE),   # slave: IRQ 8 only, vector 0x28
    (0x70, 0x0A), (0x71, 0x23),                                      # RTC A: 32 kHz, rate 3 (8192 Hz)
    (0x70, 0x0B), (0x71, 0x42),                                      # RTC B: PIE, 24-hour
    (0x43, 0x34), (0x40, 10), (0x40, 0))) + f"""
    sti
    mov ecx, {ROUNDS // 2}
again:
    hlt
    mov edx, 5000
spin:
    dec edx
    jnz spin
    loop again
    cli
    hlt
pit:
    push eax
    push edx
    rdtsc
    add [0x7000], eax
    inc dword ptr [0x7008]
    mov al, 0x20
    out 0x20, al
    pop edx
    pop eax
    iretd
rtc:
    push eax
    push edx
    rdtsc
    xor [0x7004], eax
    inc dword ptr [0x700c]
    mov al, 0x0c
    out 0x70, al
    in al, 0x71
    mov al, 0x20
    out 0xa0, al
    out 0x20, al
    pop edx
    pop eax
    iretd
{FLAT_TABLES}
"""


def test_a_wake_in_translated_code_cuts_the_budget_at_the_next_deadline(engine):
    _, setup = gate_setup(TWO_TIMERS, {0x20: "pit", 0x28: "rtc"})
    ref, _ = run_guest("interp", TWO_TIMERS, setup=setup, max_insns=2_000_000)
    m, _ = run_guest(engine, TWO_TIMERS, setup=setup, max_insns=2_000_000)
    assert m.mem_read(0x7000, 16) == ref.mem_read(0x7000, 16)
    same_time(m, ref)
    ticks, rtc_ticks = struct.unpack("<II", m.mem_read(0x7008, 8))
    assert ticks > ROUNDS // 2 and rtc_ticks > 2, (ticks, rtc_ticks)
    if m.translator is not None:
        assert wakes(m) > ROUNDS // 4


def runs_until_the_idt_is_cleared(engine, port, workload=MICRO["timer_irq"], forward=lambda m, size, value: None):
    """The timer loop on the interpreter and on `engine`, the host clearing the IDT at the
    100th write to `port` (each write also given to `forward`): ([(reason, instructions,
    icount, TSC, EIP) of each run], the engine's machine)."""
    results = []
    for name in ("interp", engine):
        m = timer_machine(name, workload=workload)
        writes = []

        def hook(port, size, value, m=m, writes=writes):
            forward(m, size, value)
            writes.append(value)
            if len(writes) == 100:
                m.mem_write(0x3000, bytes(0x800))              # the IDT the prologue built
        m.hook_port(port, write=hook)
        result = m.run(max_insns=1_000_000)
        results.append((result.reason, result.instructions, m.state.icount, m.state.tsc, m.reg_read("eip")))
    return results, m


def test_a_triple_fault_while_waking_ends_the_run_as_on_the_interpreter(engine):
    """After 100 ticks (EOIs, through a hook on the PIC's port) the host clears the IDT: the
    next wake-up's delivery finds no gate, nor a #NP or #DF handler, and the run ends with
    the triple fault."""
    results, m = runs_until_the_idt_is_cleared(engine, 0x20, forward=lambda m, size, value: m.pic.master.write(0, size, value))
    assert results[0] == results[1] and results[0][0] == "error"
    if m.translator is not None:
        assert m.translator.monitor_call.wakes > 50


def test_timeout_stops_a_port_io_loop_that_never_ends(engine):
    """Every pass calls the monitor without leaving translated code: the timeout must still
    hold (a slice is 5 million instructions, seconds of port reads)."""
    m = machine_with(engine, "again:\n    in al, 0x80\n    jmp again")
    runs_out_of_time(m, 1.5)
    if m.translator is not None:
        assert counts(m)[0] > 1000


# String port I/O: each iteration of rep insb/insw/outsb/outsd is one monitor call (the
# instruction stays on itself until ECX is 0).  Port 0xE8 hands out a running count and
# records what it is sent.
STRING_IO = f"""
    mov ebx, {ROUNDS}
    mov dx, 0xe8
again:
    mov edi, 0x3000
    mov ecx, 5
    rep insb
    mov ecx, 3
    rep insw
    mov esi, 0x3002
    mov ecx, 4
    rep outsb
    mov ecx, 2
    outsd
    std
    outsd
    cld
    dec ebx
    jnz again
    cli
    hlt
"""


def string_ports(m, sent):
    reads = iter(range(1, 1 << 20))
    m.hook_port(0xE8, read=lambda port, size: next(reads) * 0x01010101,
                write=lambda port, size, value: sent.append((size, value)))


def test_string_port_io_matches_the_interpreter(engine):
    sent, ref_sent = [], []
    ref, _ = run_guest("interp", STRING_IO, setup=lambda m: string_ports(m, ref_sent))
    m, _ = run_guest(engine, STRING_IO, setup=lambda m: string_ports(m, sent))
    assert sent == ref_sent and len(sent) == 6 * ROUNDS
    assert m.mem_read(0x3000, 16) == ref.mem_read(0x3000, 16) and snapshot(m) == snapshot(ref)
    if m.translator is not None:
        assert counts(m)[0] > 10 * (ROUNDS - 20)


def system_workload(body):
    """`body` as the loop of the full-system nanobenchmark (paging on, its page table at
    0x101000, the page directory at 0x100000), EBX cleared first."""
    return replace(MICRO["cr3_switch"], prologue=MICRO["cr3_switch"].prologue + "\n    xor ebx, ebx", body=body)


# invlpg after remapping linear page 0x10000 to one of two frames on alternate passes: a
# stale TLB or jump-cache entry would read the other frame.
REMAP = system_workload("""
    mov eax, ecx
    and eax, 1
    shl eax, 12
    add eax, 0x20007
    mov [0x101040], eax
    invlpg [0x10000]                 ; 7 bytes: the longest the monitor call identifies is 8
    add ebx, [0x10000]
""")
# mov cr3 alternating between two page directories whose tables map linear 0x10000 to
# frames holding 1 and 1000 (the second directory and table are written by the test).
SWITCH = system_workload("""
    mov eax, ecx
    and eax, 1
    shl eax, 13
    add eax, 0x100000                ; the directory at 0x100000 or the one at 0x102000
    mov cr3, eax
    add ebx, [0x10000]
""")
ONE, THOUSAND = (1).to_bytes(4, "little"), (1000).to_bytes(4, "little")
SECOND_SPACE = {0x102000: struct.pack("<I", 0x103007),
                0x103000: b"".join(struct.pack("<I", (0x21000 if n == 0x10 else n << 12) | 7) for n in range(512))}


def against_interpreter(engine, workload, memory):
    """(interpreter machine, `engine`'s machine) after running `workload` (ROUNDS passes) to
    its halt on both, `memory` ({address: bytes}) written first; the same state on both."""
    machines = []
    for name in ("interp", engine):
        m = timer_machine(name, ticks=ROUNDS, workload=workload)
        for address, data in memory.items():
            m.mem_write(address, data)
        assert m.run(max_insns=1_000_000).reason == "halt"
        machines.append(m)
    ref, m = machines
    assert snapshot(m) == snapshot(ref)
    return ref, m


@pytest.mark.parametrize("workload, memory", [
    (REMAP, {0x20000: ONE, 0x21000: THOUSAND}),
    (SWITCH, {**SECOND_SPACE, 0x10000: ONE, 0x21000: THOUSAND}),      # 0x10000: the identity map's frame
], ids=["invlpg", "mov-cr3"])
def test_remapping_from_translated_code_matches_the_interpreter(engine, workload, memory):
    """Each pass reads linear 0x10000 after the mapping changed, 1 and 1000 by turns."""
    _, m = against_interpreter(engine, workload, memory)
    assert m.reg_read("ebx") == ROUNDS // 2 * 1001
    if m.translator is not None:
        assert counts(m)[0] > ROUNDS - 20


# Data segment loads: DS, ES, FS and GS from registers and the stack, with the flat ring-0
# data selector and the ring-3 one (RPL 3), reads through each; then a selector past the
# GDT's limit, whose #GP(sel) the interpreter delivers (its handler halts).
SEGMENTS = system_workload("""
    mov eax, ecx
    and eax, 1
    imul eax, eax, 0x13
    add eax, 0x10                    ; 0x10 (ring 0) or 0x23 (ring 3, RPL 3), by turns
    mov ds, ax
    push ds
    pop es
    mov fs, ax
    push 0x10
    pop gs
    add ebx, fs:[0x10000]
    add ebx, es:[0x10004]
    mov ax, 0x10
    mov ds, ax
""")


def test_data_segment_loads_from_translated_code_match_the_interpreter(engine):
    _, m = against_interpreter(engine, SEGMENTS, {0x10000: struct.pack("<II", 3, 40)})
    assert m.reg_read("ebx") == ROUNDS * 43
    assert [m.state.seg[k].selector for k in (0, 3, 4, 5)] == [0x23, 0x10, 0x23, 0x10]    # ES DS FS GS
    if m.translator is not None:
        assert counts(m)[0] > 5 * (ROUNDS - 20)


def test_a_faulting_segment_load_is_left_to_the_interpreter(engine):
    """mov ds with a selector past the GDT limit: #GP before any change, so the monitor call
    declines and the interpreter delivers it (the handler halts at the same place)."""
    _, m = against_interpreter(engine, system_workload("""
    cmp ecx, 3
    jne fine
    mov ax, 0x38
    mov ds, ax
fine:
    mov ax, 0x10
    mov ds, ax
"""), {})
    assert m.reg_read("ecx") == 3
    if m.translator is not None:
        assert counts(m)[1] >= 1
