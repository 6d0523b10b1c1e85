"""The PS/2 keyboard and mouse behind the i8042: they answer the commands a driver probes with.

No keys are ever pressed and the mouse never moves (the console is the serial port); what
matters is that Linux's atkbd and psmouse probes get their ACKs (0xFA), IDs and reset
results at once instead of waiting out timeouts.  Each device turns one byte from the host
into the bytes it answers; a command that takes a parameter ACKs it too.  Unknown commands
answer 0xFE (resend), as QEMU's models do.

Example:
    kbd = Ps2Keyboard()
    kbd.receive(0xFF)                  # -> [0xFA, 0xAA]: reset, self-test passed
    kbd.receive(0xF2, translate=True)  # -> [0xFA, 0xAB, 0x41]: an MF2 keyboard, translated ID
"""

ACK, RESEND = 0xFA, 0xFE
SELF_TEST_PASSED = 0xAA


class Ps2Device:
    """Commands -> reply bytes; `with_parameter` lists the commands followed by a data byte."""

    replies = {}
    with_parameter = ()

    def __init__(self):
        self.awaiting = None             # the command whose parameter byte comes next

    def receive(self, byte, translate=False):
        if self.awaiting is not None:
            self.awaiting = None
            return [ACK]
        if byte in self.with_parameter:
            self.awaiting = byte
            return [ACK]
        reply = self.reply(byte, translate)
        return reply if reply is not None else [RESEND]

    def reply(self, byte, translate):
        return self.replies.get(byte)


class Ps2Keyboard(Ps2Device):
    """An MF2 keyboard in scan code set 2 (the controller translates to set 1)."""

    with_parameter = (0xED, 0xF0, 0xF3)  # LEDs, scan code set, typematic rate
    replies = {0xEE: [0xEE], 0xF4: [ACK], 0xF5: [ACK], 0xF6: [ACK], 0xFF: [ACK, SELF_TEST_PASSED]}

    def reply(self, byte, translate):
        if byte == 0xF2:                 # identify: MF2, whose second byte the translation changes
            return [ACK, 0xAB, 0x41 if translate else 0x83]
        return self.replies.get(byte)


class Ps2Mouse(Ps2Device):
    """A plain three-button PS/2 mouse (ID 0) in stream mode, reporting at 100 samples/s."""

    with_parameter = (0xE8, 0xF3)        # resolution, sample rate
    replies = {**{byte: [ACK] for byte in (0xE6, 0xE7, 0xEA, 0xEC, 0xF0, 0xF4, 0xF5, 0xF6)},
               0xE9: [ACK, 0x00, 0x02, 100],       # status: stream mode, 4 counts/mm, 100/s
               0xEB: [ACK, 0x08, 0x00, 0x00],      # read data: a packet with no motion
               0xF2: [ACK, 0x00],                  # identify
               0xFF: [ACK, SELF_TEST_PASSED, 0x00]}
