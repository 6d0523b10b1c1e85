"""vmm/devices/i8042.py and ps2.py: what Linux's i8042, atkbd and psmouse probes do, and resets."""

import pytest

from vmm.devices.i8042 import I8042


@pytest.fixture
def events():
    return []


@pytest.fixture
def kbc(events):
    return I8042(reset=lambda: events.append("reset"), irq=lambda n, level: events.append((n, level)))


def status(kbc):
    return kbc.command_port.read(0, 1)


def command(kbc, value, data=None):
    kbc.command_port.write(0, 1, value)
    if data is not None:
        kbc.data_port.write(0, 1, data)


def drain(kbc):
    """Every byte waiting in the output buffer, with the status bits 0 and 5 it came with."""
    out = []
    while (st := status(kbc)) & 0x01:
        out.append((kbc.data_port.read(0, 1), st & 0x21))
    return out


def read_all(kbc):
    out = []
    while status(kbc) & 0x01:
        out.append(kbc.data_port.read(0, 1))
    return out


def test_state_as_seabios_leaves_it(kbc, events):
    assert status(kbc) == 0x1C
    command(kbc, 0x20)
    assert status(kbc) == 0x1D and events == [(1, True)]       # KBDINT is on
    assert read_all(kbc) == [0x61] and status(kbc) == 0x1C and events[-1] == (1, False)
    command(kbc, 0xD0)
    assert read_all(kbc) == [0xCF]


def test_linux_probe_self_test_interface_tests_and_command_byte(kbc, events):
    command(kbc, 0x60, 0x74)                  # CTR: KBDDIS | AUXDIS | XLATE | SYS, no interrupts
    assert status(kbc) & 0x08                 # QEMU keeps "last write was a command" set
    command(kbc, 0x20)
    assert read_all(kbc) == [0x74]
    command(kbc, 0xAA)
    assert read_all(kbc) == [0x55] and status(kbc) & 0x04
    command(kbc, 0xAB)
    command(kbc, 0xA9)
    assert read_all(kbc) == [0x00, 0x00]
    assert events == []                       # KBDINT is off: replies raise no IRQ 1


def test_enable_and_disable_ports_flip_command_byte_bits(kbc):
    for cmd, expected in ((0xAD, 0x71), (0xA8, 0x51), (0xAE, 0x41), (0xA7, 0x61)):
        command(kbc, cmd)
        command(kbc, 0x20)
        assert read_all(kbc) == [expected]


def test_keyboard_commands_through_the_data_port(kbc):
    kbc.data_port.write(0, 1, 0xFF)
    assert read_all(kbc) == [0xFA, 0xAA]
    kbc.data_port.write(0, 1, 0xF2)
    assert read_all(kbc) == [0xFA, 0xAB, 0x41]           # translated: XLATE is on
    command(kbc, 0x60, 0x21)
    kbc.data_port.write(0, 1, 0xF2)
    assert read_all(kbc) == [0xFA, 0xAB, 0x83]
    for byte in (0xED, 0x07, 0xF4, 0xEE, 0x42):
        kbc.data_port.write(0, 1, byte)
    assert read_all(kbc) == [0xFA, 0xFA, 0xFA, 0xEE, 0xFE]


def test_keyboard_bytes_wait_while_its_port_is_disabled_and_a_data_write_enables_it(kbc):
    command(kbc, 0xAD)
    command(kbc, 0xD2, 0x99)                  # into the buffer whatever the port's state
    assert read_all(kbc) == [0x99]
    kbc.keyboard.awaiting = None
    kbc.data_port.write(0, 1, 0xF4)           # writing to the keyboard re-enables it (QEMU)
    assert read_all(kbc) == [0xFA]


def test_aux_loopback_and_mouse_commands_with_irq_12(kbc, events):
    command(kbc, 0x60, 0x43)                  # KBDINT | AUXINT | XLATE, both ports enabled
    command(kbc, 0xD3, 0x5A)
    assert status(kbc) & 0x21 == 0x21 and events[-1] == (12, True)
    assert read_all(kbc) == [0x5A] and events[-1] == (12, False)
    command(kbc, 0xD4, 0xF2)
    assert drain(kbc) == [(0xFA, 0x21), (0x00, 0x21)]
    command(kbc, 0xD4, 0xFF)
    assert read_all(kbc) == [0xFA, 0xAA, 0x00]
    command(kbc, 0xD4, 0xF3)
    command(kbc, 0xD4, 100)
    command(kbc, 0xD4, 0xE9)
    assert read_all(kbc) == [0xFA, 0xFA, 0xFA, 0x00, 0x02, 100]


def test_mouse_bytes_wait_while_the_aux_port_is_disabled(kbc):
    command(kbc, 0xD4, 0xF2)                  # aux is disabled as the BIOS leaves it
    assert read_all(kbc) == []
    command(kbc, 0xA8)
    assert read_all(kbc) == [0xFA, 0x00]


@pytest.mark.parametrize("cmd", [0xFE, 0xF0, 0xFC])
def test_pulsing_output_port_bit_0_resets(kbc, events, cmd):
    command(kbc, cmd)
    assert events == ["reset"]


def test_pulses_that_leave_bit_0_alone_and_unknown_commands_do_nothing(kbc, events):
    for cmd in (0xFF, 0xF1, 0xC8, 0x12):
        command(kbc, cmd)
    assert events == [] and read_all(kbc) == []


def test_writing_the_output_port_with_bit_0_clear_resets(kbc, events):
    command(kbc, 0xD1, 0xDF)                  # A20 on, no reset
    command(kbc, 0xD0)
    assert read_all(kbc) == [0xDF] and "reset" not in events
    command(kbc, 0xD1, 0xDE)
    assert events[-1] == "reset"


def test_empty_buffer_reads_repeat_the_last_byte(kbc):
    command(kbc, 0xAA)
    assert read_all(kbc) == [0x55] and kbc.data_port.read(0, 1) == 0x55
