"""The native fast paths (vmm.translator.fastpath) against the monitor's general path.

Each guest runs on the interpreter (always the general path) and on the translator, whose
int n, iret, page faults and external interrupts take the fast path when they can; the
final state, the frames left in memory and the instruction count must be the same, and the
fast-path counters say the native path really ran (or really declined)."""

import io
import struct

import pytest

from tests.asmguest import new_machine
from tests.x86.ringguest import (FLAT, KCODE, KDATA, RING0_STACK, RING3_STACK, descriptor, frame, handler_state,
                                 registers, ring_machine)
from vmm.bench.workloads import MICRO, ORIGIN
from vmm.debug.trace import Trace
from vmm.lockstep import snapshot
from vmm.translator.exits import STEP

JIT_ENGINES = ("jit", "jit-tier2")
SYSCALLS = 300
SYSCALL_LOOP = f"""
    mov ecx, {SYSCALLS}
again:
    mov eax, 1
    int 0x80
    loop again
"""

# The standard segments with their accessed bits already set, so the first delivery is not
# declined for that reason (the general path sets them in the table).
ACCESSED = {KCODE: descriptor(0, FLAT, 0x9B), KDATA: descriptor(0, FLAT, 0x93),
            0x18: descriptor(0, FLAT, 0xFB), 0x20: descriptor(0, FLAT, 0xF3)}

# ICW1-4 (vectors 0x20-0x27, cascade, 8086 mode), then OCW1 masking all but IRQ 1.
PIC_IRQ1_ONLY = "".join(f"    mov al, {value:#x}\n    out {port:#x}, al\n" for port, value in
                        ((0x20, 0x11), (0x21, 0x20), (0x21, 4), (0x21, 1), (0x21, 0xFD)))


def run_both(build, engine, max_insns=200_000):
    """(reference machine, translated machine) after running the same guest."""
    machines = []
    for name in ("interp", engine):
        m = build(name)
        result = m.run(max_insns=max_insns)
        assert result.reason == "halt", result.message
        machines.append(m)
    return machines


def same_guest(ref, m, regions):
    assert snapshot(m) == snapshot(ref)
    caches = [[(seg.selector, seg.base, seg.limit, seg.flags) for seg in x.state.seg] for x in (ref, m)]
    assert caches[0] == caches[1] and m.state.seg_checks == ref.state.seg_checks
    for address, size in regions:
        assert m.mem_read(address, size) == ref.mem_read(address, size)


def fast_uses(m):
    """(deliveries, irets, sysenters, sysexits) the native fast paths did (fast_monitor's,
    the last count, is tests/translator/test_devicepath.py's)."""
    return tuple(m.translator.fast_counts)[:4]


@pytest.mark.parametrize("jit_engine", JIT_ENGINES)
def test_system_calls_from_ring_3_enter_and_return_natively(jit_engine):
    ref, m = run_both(lambda e: ring_machine(e, SYSCALL_LOOP, gdt=ACCESSED), jit_engine)
    same_guest(ref, m, [(RING0_STACK - 0x40, 0x40), (RING3_STACK - 0x40, 0x40)])
    assert frame(m) == frame(ref) and handler_state(m) == handler_state(ref) and registers(m) == registers(ref)
    deliveries, irets = fast_uses(m)[:2]
    # The last int 0x80 records and halts; the prelude enters ring 3 with an iret too.
    assert deliveries == SYSCALLS + 1 and irets == SYSCALLS + 1
    assert m.translator.exits.get(STEP, 0) < 20


# Gates the fast path must leave to the general path, which raises what the SDM says.
DECLINED = {
    "16-bit interrupt gate": {0x80: ("handler_80", 0x6, 3)},
    "gate not present (#NP)": {0x80: ("handler_80", 0xE, 3, False)},
    "gate DPL 0 from ring 3 (#GP)": {0x80: ("handler_80", 0xE, 0)},
    "task gate": {0x80: (0x28, 0x5, 3)},
}


@pytest.mark.parametrize("case", sorted(DECLINED))
@pytest.mark.parametrize("jit_engine", JIT_ENGINES)
def test_gates_outside_the_common_case_take_the_general_path(jit_engine, case):
    ref, m = run_both(lambda e: ring_machine(e, SYSCALL_LOOP, gdt=ACCESSED, idt=DECLINED[case]), jit_engine)
    same_guest(ref, m, [(RING0_STACK - 0x40, 0x40), (RING3_STACK - 0x40, 0x40)])
    assert frame(m) == frame(ref)
    assert fast_uses(m)[0] == 0


def micro(name, count):
    def build(engine):
        m = new_machine(engine)
        m.mem_write(ORIGIN, MICRO[name].assemble(count))
        m.reg_write("eip", ORIGIN)
        return m
    return build


# Guests whose blocks leave with a fault for the dispatcher, 200 times, and the top of their
# stack: a load from an unmapped page (the #PF handler skips it: Mmu.fill found the fault),
# and div by zero (the #DE handler skips the div: raise_if).
DISPATCHED = {"page_fault": 0x90000, "div0": 0x80000}


@pytest.mark.parametrize("workload", sorted(DISPATCHED))
@pytest.mark.parametrize("jit_engine", JIT_ENGINES)
def test_faults_blocks_leave_for_are_delivered_by_the_dispatcher(jit_engine, workload):
    ref, m = run_both(micro(workload, 200), jit_engine)
    same_guest(ref, m, [(DISPATCHED[workload] - 0x40, 0x40)])
    deliveries, irets = fast_uses(m)[:2]
    assert 195 <= deliveries <= 200 and 195 <= irets <= 200
    assert m.translator.exits.get(STEP, 0) < 20


@pytest.mark.parametrize("jit_engine", JIT_ENGINES)
def test_sysenter_and_sysexit_run_natively(jit_engine):
    ref, m = run_both(micro("sysenter", 200), jit_engine)
    same_guest(ref, m, [(0x80000 - 0x40, 0x40)])
    assert m.state.seg[1].selector == ref.state.seg[1].selector
    assert fast_uses(m)[2:] == (200, 200)


@pytest.mark.parametrize("jit_engine", JIT_ENGINES)
def test_timer_interrupts_are_delivered_natively(jit_engine):
    ref, m = run_both(micro("timer_irq", 100), jit_engine)
    same_guest(ref, m, [(0x90000 - 0x40, 0x40)])
    deliveries, irets = fast_uses(m)[:2]
    assert deliveries >= 95 and irets >= 95


def test_an_iret_that_sets_if_lets_a_waiting_interrupt_in_at_once():
    """int 0x80 through an interrupt gate (IF clear) raises IRQ 1 in its handler; the iret
    back sets IF, and the interrupt must be taken before the next instruction, as in the
    interpreter, not at the end of the slice."""
    results = {}
    for engine in ("interp", "jit"):
        m = ring_machine(engine, user="", gdt=ACCESSED, kernel=PIC_IRQ1_ONLY + """
            mov eax, 1
            jmp kernel_loop
        irq1:
            mov ebx, [esp]
            mov [0x20100], ebx
            mov al, 0x20
            out 0x20, al
            iretd
        raise_it:
            out 0x99, al
            iretd
        kernel_loop:
            sti
            mov ecx, 50
        spin:
            int 0x81
        after_int:
            loop spin
            cli
            hlt
        """, idt={0x21: ("irq1", 0xE, 0), 0x81: ("raise_it", 0xE, 0)})
        m.hook_port(0x99, write=lambda port, size, value, m=m: (m.pic.raise_irq(1), m.pic.lower_irq(1)))
        result = m.run(max_insns=20_000)
        assert result.reason == "halt", result.message
        results[engine] = (struct.unpack("<I", m.mem_read(0x20100, 4))[0], m.state.icount, m.labels["after_int"])
        if engine == "jit":
            assert fast_uses(m)[1] > 40
    assert results["jit"] == results["interp"]
    assert results["jit"][0] == results["jit"][2]           # taken right after the iret


def test_tracing_interrupts_turns_the_fast_paths_off():
    """-d int logs every delivery: none may bypass the monitor."""
    m = micro("int80", 50)("jit")
    out = io.StringIO()
    m.trace = Trace.from_spec("int", out)
    assert m.run(max_insns=100_000).reason == "halt"
    assert out.getvalue().count("v=80") + out.getvalue().count("0x80") >= 50
    assert not any(fast_uses(m))
