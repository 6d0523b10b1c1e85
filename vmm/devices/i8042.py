"""The i8042 keyboard controller: data at 0x60, status (read) and command (write) at 0x64.

Enough of the controller for Linux's i8042 probe and for resets: the command byte (0x20
read, 0x60 write), self-test 0xAA -> 0x55, interface tests 0xAB / 0xA9 -> 0x00, enabling
and disabling the keyboard and aux ports (0xAD/0xAE, 0xA7/0xA8), the output port (0xD0 read,
0xD1 write; bit 0 low resets), writes into the output buffer as if from the keyboard or the
mouse (0xD2, 0xD3: Linux's aux loopback test), 0xD4 (the next data byte goes to the mouse)
and the pulse commands 0xF0-0xFF, which reset the machine when they pulse bit 0 (0xFE, the
usual reboot).  A reset calls `reset()`.  Data written to 0x60 with no command pending goes
to the keyboard (and re-enables its port, as on QEMU); the devices are in ps2.py.

Status bit 3 (the last write was a command) is set by the first command and, as on QEMU,
never cleared by data writes.  The output buffer holds one byte; status bit 0 says it is
full and bit 5 that it came from the mouse.  Controller replies come first, then keyboard
bytes while the keyboard port is enabled, then mouse bytes while the aux port is.  IRQ 1
(keyboard) and IRQ 12 (mouse) are the levels "buffer full with a byte from that port, and
its interrupt enabled in the command byte", reported through `irq(n, level)`.  A20 is not
modelled (always on): the output port's bit 1 is kept but changes nothing.

Example:
    kbc = I8042(reset=lambda: print("reset"), irq=lambda n, level: None)
    bus.register(0x60, 1, kbc.data_port); bus.register(0x64, 1, kbc.command_port)
    kbc.command(0xAA); kbc.read_data()       # -> 0x55
    kbc.command(0xFE)                        # prints "reset"
"""

from collections import deque

from . import layout
from .bus import Device
from .ps2 import Ps2Keyboard, Ps2Mouse

STAT_OBF, STAT_SYS, STAT_CMD, STAT_UNLOCKED, STAT_AUX = 0x01, 0x04, 0x08, 0x10, 0x20
CTR_KBDINT, CTR_AUXINT, CTR_KBDDIS, CTR_AUXDIS, CTR_XLATE = 0x01, 0x02, 0x10, 0x20, 0x40
OUT_RESET, OUT_A20 = 0x01, 0x02
# As SeaBIOS leaves the controller on QEMU: translated keyboard with its interrupt on, aux
# off; status SYS (self-test passed) and CMD (a command was the last write); output port 0xCF.
BIOS_COMMAND_BYTE = CTR_XLATE | CTR_AUXDIS | CTR_KBDINT
BIOS_STATUS = STAT_SYS | STAT_CMD | STAT_UNLOCKED
BIOS_OUTPUT_PORT = 0xCC | OUT_A20 | OUT_RESET
# Commands answered with one byte, or that just flip command-byte bits.
REPLIES = {0xA9: 0x00, 0xAB: 0x00, 0xC0: 0x00, 0xE0: 0x00}          # tests OK, input port, test inputs
SET_BITS = {0xA7: CTR_AUXDIS, 0xAD: CTR_KBDDIS}
CLEAR_BITS = {0xA8: CTR_AUXDIS, 0xAE: CTR_KBDDIS}
WITH_DATA = (0x60, 0xD1, 0xD2, 0xD3, 0xD4)      # commands whose argument is the next data byte


class I8042:
    """The controller (module docstring); `data_port` and `command_port` go on the bus."""

    def __init__(self, reset, irq=None):
        self.reset = reset
        self.irq = irq
        self.keyboard, self.mouse = Ps2Keyboard(), Ps2Mouse()
        self.command_byte = BIOS_COMMAND_BYTE
        self.status = BIOS_STATUS
        self.output_port = BIOS_OUTPUT_PORT
        self.pending = None                      # a command waiting for its data byte
        self.queues = {"ctrl": deque(), "kbd": deque(), "aux": deque()}
        self.buffer = None                       # (byte, source) in the output buffer
        self.last = 0                            # what a read of an empty buffer returns
        self.levels = {layout.KBD_IRQ: False, layout.AUX_IRQ: False}
        self.data_port = _Port(self.read_data, self.write_data)
        self.command_port = _Port(self.read_status, self.command)

    # ---- the guest's side ---------------------------------------------------------------
    def read_status(self):
        full = self.buffer is not None
        return self.status | (STAT_OBF if full else 0) | (STAT_AUX if full and self.buffer[1] == "aux" else 0)

    def read_data(self):
        if self.buffer is not None:
            self.last = self.buffer[0]
            self.buffer = None
            self._refill()
        return self.last

    def command(self, value):
        self.status |= STAT_CMD
        self.pending = None
        if value == 0x20:
            self._queue("ctrl", [self.command_byte])
        elif value in WITH_DATA:
            self.pending = value
        elif value == 0xAA:
            self.status |= STAT_SYS
            self._queue("ctrl", [0x55])
        elif value in REPLIES:
            self._queue("ctrl", [REPLIES[value]])
        elif value == 0xD0:
            self._queue("ctrl", [self.output_port])
        elif value in SET_BITS or value in CLEAR_BITS:
            self._set_command_byte((self.command_byte | SET_BITS.get(value, 0)) & ~CLEAR_BITS.get(value, 0))
        elif value in (0xDD, 0xDF):              # A20 off / on
            self.output_port = (self.output_port & ~OUT_A20) | (OUT_A20 if value == 0xDF else 0)
        elif value >= 0xF0 and not value & OUT_RESET:
            self.reset()
        # Anything else (vendor commands, password checks) is ignored, as QEMU does.

    def write_data(self, value):
        command, self.pending = self.pending, None
        if command == 0x60:
            self._set_command_byte(value)
        elif command == 0xD1:
            self.output_port = value
            if not value & OUT_RESET:
                self.reset()
        elif command in (0xD2, 0xD3):            # straight into the buffer, port enabled or not
            self._queue("ctrl", [value], tag="kbd" if command == 0xD2 else "aux")
        elif command == 0xD4:
            self._queue("aux", self.mouse.receive(value))
        else:
            self.command_byte &= ~CTR_KBDDIS
            self._queue("kbd", self.keyboard.receive(value, translate=bool(self.command_byte & CTR_XLATE)))

    # ---- the output buffer and the interrupt lines --------------------------------------
    def _set_command_byte(self, value):
        self.command_byte = value               # status SYS is the self-test's (as QEMU)
        self._refill()

    def _queue(self, source, data, tag=None):
        """Bytes from `source` for the output buffer, marked as the keyboard's or the mouse's."""
        tag = tag or ("aux" if source == "aux" else "kbd")
        self.queues[source].extend((byte, tag) for byte in data)
        self._refill()

    def _refill(self):
        if self.buffer is None:
            enabled = {"ctrl": True, "kbd": not self.command_byte & CTR_KBDDIS,
                       "aux": not self.command_byte & CTR_AUXDIS}
            for source in ("ctrl", "kbd", "aux"):
                if enabled[source] and self.queues[source]:
                    self.buffer = self.queues[source].popleft()
                    break
        self._update_irqs()

    def _update_irqs(self):
        source = self.buffer[1] if self.buffer else None
        for irq, src, enable in ((layout.KBD_IRQ, "kbd", CTR_KBDINT), (layout.AUX_IRQ, "aux", CTR_AUXINT)):
            level = source == src and bool(self.command_byte & enable)
            if level != self.levels[irq]:
                self.levels[irq] = level
                if self.irq is not None:
                    self.irq(irq, level)


class _Port(Device):
    """One of the controller's two one-byte ports."""

    def __init__(self, read, write):
        self._read, self._write = read, write

    def read(self, offset, size):
        return self._read()

    def write(self, offset, size, value):
        self._write(value & 0xFF)
