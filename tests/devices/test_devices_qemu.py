"""vmm's PIC, PIT, CMOS and i8042 against QEMU's: one port sequence each, the same bytes read.

Each sequence runs as a guest under qemu-system-i386 (after SeaBIOS) and on vmm's whole board
(portseq.py).  Time-dependent bits are masked off: QEMU's devices run on host time, vmm's on
the instruction count.  Left out on purpose: the time of day (QEMU's is the host's) and the
PIC's state as SeaBIOS leaves it (vmm has no BIOS, see pic8259.PicPair._bios_state).
"""

from .portseq import r, run_on_qemu, run_on_vmm, w, wait

SEQUENCES = {}

# Quiet sources first: counter 0 as a one-shot that never rises (SeaBIOS left it ticking at
# 18.2 Hz) and the UART's interrupt off, so nothing but the sequence raises an IRQ.
QUIET = [w(0x43, 0x32), w(0x40, 0xFF), w(0x40, 0xFF), w(0x3F9, 0x00), w(0x3FC, 0x00)]


def pic_regs(base):
    return [w(base, 0x0A), r(base), w(base, 0x0B), r(base), r(base + 1)]


def pic_poll(base):
    return [w(base, 0x0C), r(base)]


SEQUENCES["pic"] = QUIET + [
    # Linux's initialisation: vectors 0x20 and 0x28, cascade on 2, 8086 mode.
    w(0x20, 0x11), w(0x21, 0x20), w(0x21, 0x04), w(0x21, 0x01),
    w(0xA0, 0x11), w(0xA1, 0x28), w(0xA1, 0x02), w(0xA1, 0x01),
    w(0x21, 0xED), w(0xA1, 0xFF), *pic_regs(0x20), *pic_regs(0xA0),
    # IRQ 4 from the UART (THRE with OUT2), IRQ 1 from the i8042 (a command-byte reply).
    w(0x3FB, 0x03), w(0x3FC, 0x08), w(0x3F9, 0x02), *pic_regs(0x20),
    w(0x64, 0x20), *pic_regs(0x20),
    # Poll = INTA without the vector: 1 first, then 4 only once 1 has had its EOI.
    *pic_poll(0x20), *pic_regs(0x20), *pic_poll(0x20), w(0x20, 0x20), *pic_regs(0x20),
    *pic_poll(0x20), *pic_regs(0x20), r(0x60), *pic_regs(0x20), w(0x20, 0x64), *pic_regs(0x20),
    # A masked request waits in IRR.
    w(0x21, 0xFF), w(0x64, 0x20), *pic_regs(0x20), *pic_poll(0x20), r(0x60),
    # Rotation: 4 lowest makes 5..3 the order; specific rotate; back to fixed.
    w(0x21, 0xE9), w(0x20, 0xC4), *pic_poll(0x20), w(0x20, 0xE1), *pic_regs(0x20),
    w(0x20, 0xC7), *pic_regs(0x20),
    # The cascade: IRQ 12 from the i8042's aux loopback, through the master's input 2.
    w(0x3F9, 0x00), w(0x21, 0xF9), w(0xA1, 0xEF), w(0x64, 0x60), w(0x60, 0x43),
    w(0x64, 0xD3), w(0x60, 0x5A), *pic_regs(0x20), *pic_regs(0xA0),
    *pic_poll(0x20), *pic_poll(0xA0), *pic_regs(0x20), *pic_regs(0xA0), r(0x64), r(0x60),
    w(0xA0, 0x20), w(0x20, 0x20), *pic_regs(0x20), *pic_regs(0xA0),
    # Special mask mode.
    w(0x20, 0x68), *pic_regs(0x20), w(0x20, 0x48), w(0x64, 0x60), w(0x60, 0x61),
]


def read_back_status(counter):
    return [w(0x43, 0xE0 | (2 << counter)), r(0x40 + counter)]


SEQUENCES["pit"] = QUIET + [
    w(0x61, 0x01),                  # counter 2's gate high (vmm holds OUT high in modes 2/3 without it)
    # Status after each control word (OUT at its initial level), then after the count.
    w(0x43, 0xB0), *read_back_status(2), w(0x42, 0xFF), *read_back_status(2), w(0x42, 0xFF),
    *read_back_status(2),
    # A big count read soon after loading: only its high byte is certain (QEMU's time is the
    # host's, and its port accesses are slow: a few hundred PIT clocks may pass).
    w(0x43, 0x80), r(0x42, 0x00), r(0x42, 0x80),
    w(0x43, 0xB6), w(0x42, 0xFE), w(0x42, 0xFF), *read_back_status(2),
    w(0x43, 0xB4), w(0x42, 0xFF), w(0x42, 0xFF), *read_back_status(2),
    w(0x43, 0xB8), w(0x42, 0xFF), w(0x42, 0xFF), *read_back_status(2),
    w(0x43, 0xB2), w(0x42, 0xFF), w(0x42, 0xFF), *read_back_status(2),
    w(0x43, 0xBA), w(0x42, 0xFF), w(0x42, 0xFF), *read_back_status(2),
    w(0x43, 0xB1), w(0x42, 0x99), w(0x42, 0x99), *read_back_status(2),
    # One read-back for all three counters: status, then count; the status comes first.
    w(0x43, 0x34), w(0x40, 0x00), w(0x40, 0xF8), w(0x43, 0x76), w(0x41, 0x00), w(0x41, 0xF8),
    w(0x43, 0xB0), w(0x42, 0x00), w(0x42, 0xF8),
    w(0x43, 0xCE), r(0x40), r(0x40, 0x00), r(0x40, 0x80), r(0x41), r(0x41, 0x00), r(0x41, 0x80),
    r(0x42), r(0x42, 0x00), r(0x42, 0x80),
    # LSB-only and MSB-only access.
    w(0x43, 0x90), w(0x42, 0x80), *read_back_status(2), w(0x43, 0xA0), w(0x42, 0x90),
    *read_back_status(2), r(0x42, 0xF0),
    # Linux's TSC calibration: gate on, speaker off, mode 0, wait for OUT2 in port 0x61.
    w(0x61, 0x01), r(0x61, 0xEF), w(0x43, 0xB0), w(0x42, 0x40), w(0x42, 0x00), r(0x61, 0xEF),
    wait(0x61, 0x20), *read_back_status(2), r(0x61, 0xEF), w(0x61, 0x02), r(0x61, 0xEF),
    w(0x61, 0x00), r(0x43),
]


def cmos(reg, mask=0xFF):
    return [w(0x70, reg), r(0x71, mask)]


def cmos_set(reg, value):
    return [w(0x70, reg), w(0x71, value)]


SEQUENCES["cmos"] = [
    # UIP and UF are masked: a second may end at any point while QEMU runs this.
    *cmos(0x0A, 0x7F), *cmos(0x0B), *cmos(0x0C, 0xEF), *cmos(0x0D),
    *[step for reg in (0x0F, 0x10, 0x12, 0x14, 0x15, 0x16, 0x17, 0x18, 0x30, 0x31, 0x34, 0x35, 0x32, 0x2E, 0x2F)
      for step in cmos(reg)],
    r(0x70),
    # Binary mode: the century byte follows it.
    *cmos_set(0x0B, 0x06), *cmos(0x0B), *cmos(0x32), *cmos_set(0x0B, 0x02),
    # SET clears UIE; A keeps its divider and rate; C and D are read-only.
    *cmos_set(0x0B, 0x92), *cmos(0x0B), *cmos_set(0x0B, 0x02), *cmos_set(0x0A, 0x2F), *cmos(0x0A, 0x7F),
    *cmos_set(0x0A, 0x26), *cmos_set(0x0C, 0xFF), *cmos(0x0C, 0xEF), *cmos_set(0x0D, 0x00), *cmos(0x0D),
    # CMOS RAM, also with NMI-disable set in the index.
    *cmos_set(0x40, 0x5A), *cmos(0x40), w(0x70, 0xC0), r(0x71), *cmos_set(0x7F, 0xA5), *cmos(0xFF),
    # The periodic flag with PIE, IRQF with it; reading C clears both.
    *cmos_set(0x0B, 0x42), wait(0x71, 0x40), *cmos(0x0C, 0xC0), *cmos_set(0x0B, 0x02),
]


def kbc_command(value):
    return [w(0x64, value)]


def kbc_reply(count):
    return [step for _ in range(count) for step in (r(0x64), r(0x60))]


SEQUENCES["i8042"] = [
    r(0x64), *kbc_command(0x20), *kbc_reply(1), *kbc_command(0xD0), *kbc_reply(1),
    # Linux's probe: interrupts and ports off, self-test, interface tests.
    *kbc_command(0x60), w(0x60, 0x74), r(0x64), *kbc_command(0x20), *kbc_reply(1),
    *kbc_command(0xAA), *kbc_reply(1), *kbc_command(0xAB), *kbc_reply(1), *kbc_command(0xA9), *kbc_reply(1),
    # Port enables in the command byte.
    *kbc_command(0xAE), *kbc_command(0xA8), *kbc_command(0x20), *kbc_reply(1),
    *kbc_command(0xAD), *kbc_command(0xA7), *kbc_command(0x20), *kbc_reply(1),
    # Aux loopback (Linux's i8042_check_aux) and keyboard-buffer writes.
    *kbc_command(0x60), w(0x60, 0x40), *kbc_command(0xD3), w(0x60, 0x5A), *kbc_reply(1),
    *kbc_command(0xD2), w(0x60, 0xA5), *kbc_reply(1),
    # The keyboard: reset, identify (translated, then not), LEDs with their parameter.
    w(0x60, 0xFF), *kbc_reply(2), w(0x60, 0xF2), *kbc_reply(3),
    *kbc_command(0x60), w(0x60, 0x00), w(0x60, 0xF2), *kbc_reply(3),
    w(0x60, 0xED), *kbc_reply(1), w(0x60, 0x02), *kbc_reply(1), w(0x60, 0xEE), *kbc_reply(1),
    # The mouse through 0xD4 with the aux port on: reset, identify, status request.
    *kbc_command(0xA8), *kbc_command(0xD4), w(0x60, 0xFF), *kbc_reply(3),
    *kbc_command(0xD4), w(0x60, 0xF2), *kbc_reply(2), *kbc_command(0xD4), w(0x60, 0xE9), *kbc_reply(4),
    *kbc_command(0x60), w(0x60, 0x61), *kbc_command(0x20), *kbc_reply(1),
]


def check(name, tmp_path):
    steps = SEQUENCES[name]
    assert run_on_vmm(steps, tmp_path)[0] == run_on_qemu(steps, tmp_path)


def test_pic_sequence_reads_what_qemu_reads(tmp_path):
    check("pic", tmp_path)


def test_pit_sequence_reads_what_qemu_reads(tmp_path):
    check("pit", tmp_path)


def test_cmos_sequence_reads_what_qemu_reads(tmp_path):
    check("cmos", tmp_path)


def test_i8042_sequence_reads_what_qemu_reads(tmp_path):
    check("i8042", tmp_path)
