"""The native fast path in front of the monitor's callback (vmm.translator.devicepath): the
master PIC's mask and EOI writes, and hlt woken by the PIT's periodic tick, done without
Python.  Every guest runs on each engine and is compared with the interpreter (which always
runs the device models): registers, instruction count, virtual time, the instruction at
which each interrupt is taken; on the jit engines the native counts say the path ran."""

from dataclasses import replace

from tests.translator.test_monitor_callout import (PIC_IRQ4_ONLY, RECORD_AND_HALT, ROUNDS, gate_setup, run_guest,
                                                   runs_until_the_idt_is_cleared, same_time, timer_machine, wakes)
from vmm.bench.workloads import MICRO
from vmm.lockstep import snapshot


def native(m, name):
    return m.translator.stats()["fast_paths"][name]


# IRQ 1 is latched (the host raises it when the guest writes port 0xE8, after initialising
# the PIC) while the guest has it masked.  Each pass masks
# everything, sends a non-specific EOI (nothing in service) and a specific EOI for IRQ 1,
# through imm8 and DX ports: all native, since none uncovers the request.  The last pass
# unmasks IRQ 1 instead: the request now waits, so that write is the device model's, and the
# interrupt is taken right after it.
PIC_WRITES = f"""
    lgdt [gdtr]
    lidt [idtr]
{PIC_IRQ4_ONLY}    out 0xe8, al
    sti
    mov ecx, {ROUNDS}
again:
    mov al, 0xff
    out 0x21, al
    mov al, 0x20
    out 0x20, al
    mov dx, 0x20
    mov al, 0x61
    out dx, al
    cmp ecx, 1
    jne go
    mov al, 0xfd
    out 0x21, al
after_unmask:
go:
    inc ebx
    loop again
    cli
    hlt
irq1:{RECORD_AND_HALT}"""


def _raise_irq1(setup):
    def both(m):
        setup(m)
        m.hook_port(0xE8, write=lambda port, size, value: m.pic.raise_irq(1))
    return both


def test_mask_and_eoi_writes_run_natively_until_one_uncovers_a_request(engine):
    where, setup = gate_setup(PIC_WRITES, {0x21: "irq1"})
    ref, ref_result = run_guest("interp", PIC_WRITES, setup=_raise_irq1(setup))
    m, result = run_guest(engine, PIC_WRITES, setup=_raise_irq1(setup))
    assert int.from_bytes(m.mem_read(0x7000, 4), "little") == where["after_unmask"]
    assert m.mem_read(0x7000, 8) == ref.mem_read(0x7000, 8)
    assert result.instructions == ref_result.instructions and snapshot(m) == snapshot(ref)
    assert (m.pic.master.isr, m.pic.master.imr) == (ref.pic.master.isr, ref.pic.master.imr) == (2, 0xFD)
    if m.translator is not None:
        assert native(m, "fast_monitor") >= 3 * (ROUNDS - 20)


def test_a_port_hook_on_the_pic_sees_every_write(engine):
    where, setup = gate_setup(PIC_WRITES, {0x21: "irq1"})
    seen = []

    def hook(m):
        def mask(port, size, value):
            seen.append(value)
            m.pic.master.write(1, size, value)
        m.hook_port(0x21, write=mask)
        _raise_irq1(setup)(m)
    m, _ = run_guest(engine, PIC_WRITES, setup=hook)
    assert seen == [0x20, 4, 1, 0xEF] + [0xFF] * ROUNDS + [0xFD]
    assert int.from_bytes(m.mem_read(0x7000, 4), "little") == where["after_unmask"]


def test_ticks_after_hours_of_virtual_time_match_the_interpreter(engine):
    # A TSC of 2^62 ns (146 years): PIT clock edge numbers near 5.5e15, whose product with
    # 10^9 does not fit 64 bits (devicepath._edge_ns works in seconds and a remainder).
    results = []
    for name in ("interp", engine):
        m = timer_machine(name)
        m.state.tsc = 1 << 62
        results.append((m, m.run(max_insns=1_000_000)))
    (ref, ref_result), (m, result) = results
    assert result.reason == ref_result.reason == "halt" and result.instructions == ref_result.instructions
    same_time(m, ref)
    if m.translator is not None:
        assert native(m, "fast_wake") > 200 and wakes(m) > 260


def test_a_wake_whose_delivery_declines_is_the_monitors(engine):
    """After 100 ticks the host clears the IDT (at an `out` to a port of its own, so the
    PIC keeps its native path): the next wake's native delivery declines, the callback
    delivers through the general path, finds no gate, nor a #NP or #DF handler, and the
    run ends with the triple fault, as on the interpreter."""
    results, m = runs_until_the_idt_is_cleared(engine, 0xE8, replace(MICRO["timer_irq"], body="    out 0xe8, al\n    hlt"))
    assert results[0] == results[1] and results[0][0] == "error"
    if m.translator is not None:
        assert native(m, "fast_wake") > 50
