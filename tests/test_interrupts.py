"""External interrupts through the monitor loop, on every engine: the PIC's vector is
delivered through the guest IDT when IF allows, after the sti shadow, waking hlt; an
interrupt raised while translated code runs is taken at the next block boundary."""

import struct

import pytest

from tests.asmguest import ENGINE_VARIANTS, FLAT_TABLES, ORIGIN, assemble, labels as asm_labels, new_machine, set_gate

PIC_SETUP = """
    lgdt [gdtr]
    lidt [idtr]
    mov al, 0x11
    out 0x20, al
    mov al, 0x20
    out 0x21, al          ; IRQ 0-7 -> vectors 0x20-0x27
    mov al, 4
    out 0x21, al
    mov al, 1
    out 0x21, al
    mov al, 0xfd
    out 0x21, al          ; only IRQ 1 unmasked
"""
TAIL = """
irq1:
    mov eax, [esp]
    mov [0x7000], eax     ; the EIP the interrupt returns to
    inc dword ptr [0x7004]
    mov al, 0x20
    out 0x20, al          ; EOI
    iretd
""" + FLAT_TABLES


def machine(engine, body):
    m = new_machine(engine)
    code = assemble(PIC_SETUP + body + TAIL)
    m.mem_write(ORIGIN, code)
    labels = {"irq1": ORIGIN + code.index(bytes.fromhex("8b0424"))}       # mov eax, [esp]
    if b"\xfb\xf4\xfa" in code:                                             # sti; hlt; cli
        labels["after_hlt"] = ORIGIN + code.index(b"\xfb\xf4\xfa") + 2
    set_gate(m, 0x21, labels["irq1"])
    m.reg_write("eip", ORIGIN)
    m.reg_write("esp", 0x80000)
    return m, labels


def counters(m):
    return struct.unpack("<II", m.mem_read(0x7000, 8))


@pytest.mark.parametrize("engine", ENGINE_VARIANTS)
def test_sti_hlt_sleeps_then_the_interrupt_returns_after_hlt(engine):
    m, labels = machine(engine, """
        out 0x99, al          ; the host raises IRQ 1 here: pending, but IF is clear
        sti                   ; IF set: only the sti shadow holds the interrupt...
        hlt                   ; ...so hlt runs and sleeps first
    after_hlt:
        cli
        hlt
    """)
    m.hook_port(0x99, write=lambda port, size, value: m.pic.raise_irq(1))
    result = m.run(max_insns=10_000)
    assert result.reason == "halt" and "disabled" in result.message, result.message
    assert counters(m) == (labels["after_hlt"], 1)


@pytest.mark.parametrize("engine", ENGINE_VARIANTS)
def test_interrupt_held_by_if_is_taken_right_after_the_sti_shadow(engine):
    """sti ends a translated block with the interrupt waiting only for the shadow: the one
    instruction after sti runs, then the interrupt is taken (not at the next exit)."""
    body = """
        out 0x99, al          ; the host raises IRQ 1 here: pending, but IF is clear
        sti
        nop                   ; the sti shadow
    shadow_end:
        nop
        nop
        cli
        hlt
    """
    m, _ = machine(engine, body)
    m.hook_port(0x99, write=lambda port, size, value: m.pic.raise_irq(1))
    result = m.run(max_insns=10_000)
    assert result.reason == "halt", result.message
    assert counters(m) == (asm_labels(PIC_SETUP + body + TAIL)["shadow_end"], 1)


@pytest.mark.parametrize("engine", ENGINE_VARIANTS)
def test_interrupt_raised_by_a_device_reaches_a_running_loop(engine):
    m, labels = machine(engine, """
        sti
        mov ecx, 200000
    spin:
        cmp dword ptr [0x7004], 0
        jne loop_end
        loop spin
    loop_end:
        cli
        hlt
    """)
    seen = []
    # The IRQ is raised from a timer on the virtual clock, as devices do, 5000 ns
    # (instructions) into the run.
    timer = m.clock.timer(lambda: (m.pic.raise_irq(1), m.pic.lower_irq(1), seen.append(m.state.icount)))
    timer.arm(5000)
    result = m.run(max_insns=1_000_000)
    assert result.reason == "halt", result.message
    eip, count = counters(m)
    assert count == 1 and seen and 5000 <= seen[0] < 5000 + 64
    assert m.reg_read("ecx") > 200000 - 5000 // 3          # the loop was cut short by the IRQ
    if m.translator is not None:
        assert m.translator.exits.get(3, 0) < 50            # the loop ran translated


@pytest.mark.parametrize("engine", ENGINE_VARIANTS)
def test_masked_interrupt_and_cleared_if_are_not_taken(engine):
    m, labels = machine(engine, """
        mov ecx, 1000
    w:
        loop w
        cli
        hlt
    """)
    m.pic.raise_irq(1)                 # IF stays clear: never delivered
    result = m.run(max_insns=10_000)
    assert result.reason == "halt" and counters(m)[1] == 0
