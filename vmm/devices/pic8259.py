"""The PC's two 8259A programmable interrupt controllers: master at 0x20, slave at 0xA0 on IRQ 2.

Each chip keeps IRR (requests latched), ISR (in service) and IMR (masked) and a rotating
priority base; the slave's INT output is the master's input 2.  Devices call `raise_irq(n)`
/ `lower_irq(n)` with n = 0-15 (edge triggered: the rising edge latches IRR; in level mode,
ICW1 LTIM, IRR follows the line, so it only suits devices that hold their line, as the UART
and the i8042 do; the PIT and the RTC pulse theirs).  The CPU side asks `has_interrupt()`
(the INTR pin) and runs the INTA cycle with `acknowledge()`, which moves the winner from IRR
to ISR and returns its vector.  `on_intr()` is called whenever INTR may have become active.

As on the chip and QEMU: ICW1 resets a chip (IMR, ISR, priority, special mask, read
select, and the edge detectors: the next raise_irq of a line counts as a rising edge even
if the line was high already) and starts the ICW2 (vector base) / ICW3 / ICW4 sequence (ICW3 and ICW4 only when ICW1 asks).
OCW2 is the EOI family: non-specific, specific, the rotating variants and set-priority;
OCW3 selects IRR or ISR for reads of the command port, polls, and sets special mask mode.
ICW4 bit 1 is auto-EOI (the INTA cycle leaves ISR alone, or rotates with OCW2 rotate-in-
AEOI), bit 4 special fully nested mode (the master lets the slave interrupt again while its
input 2 is in service).  An INTA with nothing left to deliver (the request went away) gives
the spurious vector, IRQ 7 of the chip that answers (IRQ 15 for the slave), and sets no
ISR bit: the master acknowledges IRQ 2 and the slave answers 7.  ICW1's ADI and the
8080/85 call-address mode (ICW4 bit 0 clear) change nothing on a PC and are ignored.

IRR, ISR, IMR and the INT pin live in a native structure (`regs`, PicRegs) with a flag,
`simple`, saying the chip is in the plain mode a native fast path may handle (the
translator's writes of EOIs and masks, vmm.translator.devicepath): operating, fixed
priority, no special mask, auto-EOI, poll, level triggering or special nesting, and
`native` (false while a Machine port hook watches the chip's ports).

Example:
    pic = PicPair(on_intr=lambda: None)
    bus.register(0x20, 2, pic.master); bus.register(0xA0, 2, pic.slave)
    pic.raise_irq(0)
    if pic.has_interrupt():
        vector = pic.acknowledge()      # 0x08 with the BIOS's ICW2; the guest sends EOI later
"""

import ctypes

from . import layout
from .bus import Device

ICW1, ICW1_IC4, ICW1_SNGL, ICW1_LTIM = 0x10, 0x01, 0x02, 0x08
OCW3, OCW3_POLL, OCW3_RR, OCW3_RIS, OCW3_ESMM, OCW3_SMM = 0x08, 0x04, 0x02, 0x01, 0x40, 0x20
ICW4_AEOI, ICW4_SFNM = 0x02, 0x10
NONE = 8                         # "no bit" from _priority


class PicRegs(ctypes.Structure):
    """The registers a native fast path reads and writes (module docstring)."""
    _fields_ = [("irr", ctypes.c_uint8), ("isr", ctypes.c_uint8), ("imr", ctypes.c_uint8),
                ("level", ctypes.c_uint8), ("simple", ctypes.c_uint8), ("lines", ctypes.c_uint8),
                ("vector_base", ctypes.c_uint8)]


def _register(name):
    return property(lambda chip: getattr(chip.regs, name), lambda chip, value: setattr(chip.regs, name, value))


class Pic8259(Device):
    """One 8259A.  `output(level)` hears its INT pin (the master's goes to the CPU, the
    slave's to the master's input 2)."""

    irr, isr, imr = _register("irr"), _register("isr"), _register("imr")
    lines = _register("lines")                   # input pin levels (the edge detectors' memory)
    vector_base = _register("vector_base")       # ICW2
    level = property(lambda chip: bool(chip.regs.level), lambda chip, value: setattr(chip.regs, "level", value))

    def __init__(self, output, is_master):
        self.regs = PicRegs()
        self.output = output
        self.is_master = is_master
        self.native = True               # a native fast path may write the ports
        self.level_mode = False          # ICW1 LTIM: IRR follows the input level
        self._reset()

    def _reset(self):
        """What ICW1 clears (IRR keeps level-triggered requests only, as QEMU)."""
        self.lines = 0
        self.irr = self.irr if self.level_mode else 0
        self.isr = self.imr = 0
        self.priority_base = 0           # the input with the highest priority
        self.vector_base = 0
        self.read_isr = False
        self.poll = False
        self.special_mask = False
        self.auto_eoi = self.rotate_on_aeoi = self.nested = False
        self.init_step = 0               # 0: operating; 2, 3, 4: waiting for that ICW
        self.want_icw3 = self.want_icw4 = False
        self.settle()

    def settle(self):
        """Recompute `regs.simple` after a mode change (module docstring)."""
        self.regs.simple = (self.native and not self.init_step and not self.priority_base and not self.poll
                            and not (self.special_mask or self.auto_eoi or self.level_mode or self.nested))

    # ---- pins ----------------------------------------------------------------------------
    def set_line(self, irq, level):
        bit, regs = 1 << irq, self.regs
        if self.level_mode:
            regs.irr = regs.irr | bit if level else regs.irr & ~bit
        elif level and not self.lines & bit:
            regs.irr |= bit
        self.lines = self.lines | bit if level else self.lines & ~bit
        self._update()

    def pending(self):
        """The input INTA would deliver, or None: the highest-priority unmasked request that
        outranks everything in service (special mask mode: masked ISR bits do not count)."""
        regs = self.regs
        requests = regs.irr & ~regs.imr
        if not requests:
            return None
        request = self._priority(requests)
        in_service = regs.isr & ~regs.imr if self.special_mask else regs.isr
        if self.nested and self.is_master:
            in_service &= ~(1 << layout.PIC_CASCADE_IRQ)    # the slave may nest
        if not in_service or request < self._priority(in_service):
            return (request + self.priority_base) & 7
        return None

    def _priority(self, bits):
        """Rank (0 highest) of the highest-priority bit set in `bits`, NONE if there is none:
        the lowest set bit of `bits` rotated right by the priority base."""
        base, bits = self.priority_base, bits & 0xFF
        ranked = ((bits >> base) | (bits << (8 - base))) & 0xFF
        if not ranked:
            return NONE
        return (ranked & -ranked).bit_length() - 1

    def _update(self):
        level = self.pending() is not None
        if level != self.regs.level or level:
            self.regs.level = level
            self.output(level)

    def intack(self, irq):
        """The INTA cycle for `irq`: IRR -> ISR (or none with auto-EOI); edge requests clear."""
        if self.auto_eoi:
            if self.rotate_on_aeoi:
                self.priority_base = (irq + 1) & 7
        else:
            self.regs.isr |= 1 << irq
        if not self.level_mode:
            self.regs.irr &= ~(1 << irq)
        self._update()

    # ---- ports ---------------------------------------------------------------------------
    def read(self, offset, size):
        if self.poll:
            # A poll is an INTA without the vector: bit 7 says whether one was pending.
            self.poll = False
            self.settle()
            irq = self.pending()
            if irq is None:
                return 0
            self.intack(irq)
            return 0x80 | irq
        if offset == 0:
            return self.isr if self.read_isr else self.irr
        return self.imr

    def write(self, offset, size, value):
        value &= 0xFF
        if offset == 0:
            self._command(value)
        else:
            self._data(value)
        self.settle()
        self._update()

    def _command(self, value):
        if value & ICW1:
            self.level_mode = bool(value & ICW1_LTIM)
            self._reset()
            self.init_step = 2
            self.want_icw3 = not value & ICW1_SNGL
            self.want_icw4 = bool(value & ICW1_IC4)
        elif value & OCW3:
            if value & OCW3_POLL:
                self.poll = True
            if value & OCW3_RR:
                self.read_isr = bool(value & OCW3_RIS)
            if value & OCW3_ESMM:
                self.special_mask = bool(value & OCW3_SMM)
        else:
            self._ocw2(value >> 5, value & 7)

    def _ocw2(self, command, level):
        if command in (0, 4):            # clear / set rotate in auto-EOI mode
            self.rotate_on_aeoi = command == 4
        elif command in (1, 5):          # non-specific EOI (5: and rotate)
            rank = self._priority(self.isr)
            if rank != NONE:
                irq = (rank + self.priority_base) & 7
                self.isr &= ~(1 << irq)
                if command == 5:
                    self.priority_base = (irq + 1) & 7
        elif command in (3, 7):          # specific EOI (7: and rotate)
            self.isr &= ~(1 << level)
            if command == 7:
                self.priority_base = (level + 1) & 7
        elif command == 6:               # set priority: `level` becomes the lowest
            self.priority_base = (level + 1) & 7
        # 2 is a no-op

    def _data(self, value):
        step = self.init_step
        if step == 0:
            self.imr = value
        elif step == 2:
            self.vector_base = value & 0xF8
            self.init_step = 3 if self.want_icw3 else 4 if self.want_icw4 else 0
        elif step == 3:
            self.init_step = 4 if self.want_icw4 else 0      # cascade wiring is fixed on a PC
        else:
            self.auto_eoi = bool(value & ICW4_AEOI)
            self.nested = bool(value & ICW4_SFNM)
            self.init_step = 0


class PicPair:
    """The AT's master/slave pair as the CPU and the devices see it (module docstring)."""

    def __init__(self, on_intr):
        self.on_intr = on_intr
        self.master = Pic8259(self._intr, is_master=True)
        self.slave = Pic8259(lambda level: self.master.set_line(layout.PIC_CASCADE_IRQ, level), is_master=False)
        self._bios_state()

    def _bios_state(self):
        """Start initialised as a PC BIOS leaves the pair: vectors 0x08 and 0x70, 8086 mode,
        but everything masked except the cascade (SeaBIOS unmasks the timer, keyboard, disk
        and mouse lines, 0xB8/0x8E, for its own handlers, which a guest here does not have)."""
        for chip, (icw1, *data) in ((self.master, (0x11, 0x08, 0x04, 0x01, 0xFB)),
                                    (self.slave, (0x11, 0x70, 0x02, 0x01, 0xFF))):
            chip.write(0, 1, icw1)
            for value in data:               # ICW2 (vector base), ICW3, ICW4 (8086 mode), OCW1 (mask)
                chip.write(1, 1, value)

    def _intr(self, level):
        if level:
            self.on_intr()

    @staticmethod
    def _route(irq):
        """The chip and input for ISA IRQ `irq`; the bus's IRQ 2 pin is the slave's input 1
        (IRQ 9) on an AT, since the master's input 2 carries the cascade."""
        if not 0 <= irq < layout.PIC_IRQS:
            raise ValueError(f"IRQ {irq} is not one of 0-{layout.PIC_IRQS - 1}")
        if irq == layout.PIC_CASCADE_IRQ:
            irq = 9
        return irq >> 3, irq & 7

    def raise_irq(self, irq):
        chip, line = self._route(irq)
        (self.slave if chip else self.master).set_line(line, True)

    def lower_irq(self, irq):
        chip, line = self._route(irq)
        (self.slave if chip else self.master).set_line(line, False)

    def set_irq(self, irq, level):
        """raise_irq or lower_irq by `level` (for devices that report a line level)."""
        (self.raise_irq if level else self.lower_irq)(irq)

    def has_interrupt(self):
        """The INTR pin: an unmasked request outranks everything in service."""
        return self.master.level

    def acknowledge(self):
        """The INTA cycle: the vector of the highest-priority request, now in service."""
        master, slave = self.master, self.slave
        irq = master.pending()
        if irq is None:
            return master.vector_base | 7                # spurious: no ISR bit set
        if irq != layout.PIC_CASCADE_IRQ:
            master.intack(irq)
            return master.vector_base | irq
        irq2 = slave.pending()
        if irq2 is None:
            vector = slave.vector_base | 7               # spurious on the slave
        else:
            vector = slave.vector_base | irq2
            slave.intack(irq2)
        master.intack(layout.PIC_CASCADE_IRQ)
        return vector
