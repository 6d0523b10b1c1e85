"""A 16550A UART (COM1), register-accurate enough for Linux's 8250 driver probe and autoconfig.

Output is instant: a byte written to THR goes straight to `out` (a binary file such as
sys.stdout.buffer; None discards it), so LSR always shows THRE and TEMT and a THRE interrupt
follows every write to THR, as one would once a real transmitter drains.  Bytes given to
`feed()` wait in the receiver until the guest reads RBR.  The interrupt line is reported
through the optional `irq(level)` callback whenever its level changes.

Registers (offset: DLAB=0 / DLAB=1):
    0 RBR (read) THR (write) / DLL     1 IER / DLM     2 IIR (read) FCR (write)
    3 LCR   4 MCR   5 LSR   6 MSR   7 SCR

Simplifications, each invisible to a driver that follows the datasheet:
  * The receive queue is unbounded and the link never corrupts a byte, so there are no overrun,
    parity, framing or break errors: LSR bits 1-4 stay 0 and the line-status interrupt (the
    highest priority, IIR 0x6) never occurs.
  * Received data raises "data available" (IIR 0x4) at once whatever the FIFO trigger level:
    input arrives between guest instructions and time is virtual, so there is no character
    time after which a real 16550 would report its timeout interrupt (IIR 0xC) instead.
  * Outside loopback the modem inputs show a terminal that is always ready (CTS, DSR, DCD).

Example:
    uart = Uart16550(out=sys.stdout.buffer, irq=lambda level: print("IRQ4", level))
    uart.write(0, 1, ord("A"))           # prints "A"
    uart.read(5, 1) & 0x20               # THRE: ready for the next byte
    uart.feed(b"ls\\n"); uart.read(0, 1)  # -> ord("l")
"""

from collections import deque

from .bus import Device

RBR, IER, IIR, LCR, MCR, LSR, MSR, SCR = range(8)      # THR = RBR, FCR = IIR, DLL = RBR, DLM = IER

IER_RDI, IER_THRI, IER_MSI = 0x01, 0x02, 0x08          # IER bit 2 (line status) has no source here
IIR_NONE, IIR_MSI, IIR_THRI, IIR_RDI, IIR_FIFO = 0x01, 0x00, 0x02, 0x04, 0xC0
FCR_ENABLE, FCR_CLEAR_RX = 0x01, 0x02
LCR_DLAB = 0x80
MCR_DTR, MCR_RTS, MCR_OUT1, MCR_OUT2, MCR_LOOP = 0x01, 0x02, 0x04, 0x08, 0x10
LSR_DR, LSR_THRE, LSR_TEMT = 0x01, 0x20, 0x40
MSR_CTS, MSR_DSR, MSR_RI, MSR_DCD = 0x10, 0x20, 0x40, 0x80


class Uart16550(Device):
    """One 16550A; `out` receives transmitted bytes, `irq(level)` hears the interrupt line."""

    def __init__(self, out=None, irq=None):
        self.out = out
        self.irq = irq
        self.irq_level = False
        self._rx = deque()
        self._rbr = 0                   # RBR keeps the last byte read, as the hardware latch does
        self._ier = self._lcr = self._mcr = self._scr = 0
        self._fifo = False
        self._divisor = 0x000C          # 9600 baud until the guest programs the latch
        self._thre_pending = False
        self._msr_delta = 0             # MSR bits 0-3: modem inputs changed since MSR was read

    def feed(self, data):
        """Queue received bytes (what a user types); RBR reads return them in order."""
        self._rx.extend(data)
        self._update_irq()

    # ---- the bus protocol: an 8-bit ISA device, so wider accesses touch successive registers ----
    def read(self, offset, size):
        value = sum(self._read_register(offset + i) << (8 * i) for i in range(size))
        self._update_irq()
        return value

    def write(self, offset, size, value):
        for i in range(size):
            self._write_register(offset + i, (value >> (8 * i)) & 0xFF)
        self._update_irq()

    # ---- registers -------------------------------------------------------------------------------
    def _read_register(self, reg):
        dlab = self._lcr & LCR_DLAB
        if reg == RBR:
            return self._divisor & 0xFF if dlab else self._receive()
        if reg == IER:
            return self._divisor >> 8 if dlab else self._ier
        if reg == IIR:
            return self._identify()
        if reg == LCR:
            return self._lcr
        if reg == MCR:
            return self._mcr
        if reg == LSR:
            return LSR_THRE | LSR_TEMT | (LSR_DR if self._rx else 0)
        if reg == MSR:
            value, self._msr_delta = self._modem_inputs() | self._msr_delta, 0
            return value
        if reg == SCR:
            return self._scr
        return 0xFF                     # past the UART's 8 ports: nothing drives the bus

    def _write_register(self, reg, value):
        dlab = self._lcr & LCR_DLAB
        if reg == RBR:
            if dlab:
                self._divisor = (self._divisor & 0xFF00) | value
            else:
                self._transmit(value)
        elif reg == IER:
            if dlab:
                self._divisor = (self._divisor & 0x00FF) | (value << 8)
            else:
                self._set_ier(value)
        elif reg == IIR:
            self._set_fcr(value)
        elif reg == LCR:
            self._lcr = value
        elif reg == MCR:
            self._set_mcr(value)
        elif reg == SCR:
            self._scr = value
        # LSR and MSR writes are the factory-test path of the real chip: ignored.

    # ---- behaviour ---------------------------------------------------------------------------------
    def _receive(self):
        if self._rx:
            self._rbr = self._rx.popleft()
        return self._rbr

    def _transmit(self, value):
        if self._mcr & MCR_LOOP:
            self._rx.append(value)      # loopback: the transmitter feeds the receiver, nothing leaves
        elif self.out is not None:
            self.out.write(bytes((value,)))
            self.out.flush()
        # Writing THR cleared THRE; the instant transmission empties THR again and re-raises it.
        self._thre_pending = True

    def _set_ier(self, value):
        # Setting IER.THRI while THR is empty raises THRE at once, even if an IIR read had
        # acknowledged it before: Linux's THRE test at startup and Windows' driver both rely on it.
        if value & ~self._ier & IER_THRI:
            self._thre_pending = True
        self._ier = value & 0x0F        # bits 4-7 do not exist on a 16550 (Linux probes this)

    def _set_fcr(self, value):
        enable = bool(value & FCR_ENABLE)
        # Turning the FIFOs on or off empties them; the clear bits only act with the FIFOs on.
        if enable != self._fifo or (enable and value & FCR_CLEAR_RX):
            self._rx.clear()
        self._fifo = enable

    def _set_mcr(self, value):
        before = self._modem_inputs()
        self._mcr = value & 0x1F
        after = self._modem_inputs()
        changed = before ^ after
        # Deltas: DCTS, DDSR, DDCD on any change; TERI only on the trailing edge of RI.
        self._msr_delta |= ((changed & (MSR_CTS | MSR_DSR | MSR_DCD)) | (before & ~after & MSR_RI)) >> 4

    def _modem_inputs(self):
        """MSR bits 4-7: in loopback the outputs DTR, RTS, OUT1, OUT2 drive DSR, CTS, RI, DCD."""
        if self._mcr & MCR_LOOP:
            m = self._mcr
            return ((m & MCR_RTS) << 3) | ((m & MCR_DTR) << 5) | ((m & (MCR_OUT1 | MCR_OUT2)) << 4)
        return MSR_CTS | MSR_DSR | MSR_DCD

    def _pending(self):
        """The highest-priority pending interrupt source as IIR bits 0-3 (IIR_NONE when none)."""
        if self._ier & IER_RDI and self._rx:
            return IIR_RDI
        if self._ier & IER_THRI and self._thre_pending:
            return IIR_THRI
        if self._ier & IER_MSI and self._msr_delta:
            return IIR_MSI
        return IIR_NONE

    def _identify(self):
        source = self._pending()
        if source == IIR_THRI:
            self._thre_pending = False  # reading IIR acknowledges THRE when it is the source
        return source | (IIR_FIFO if self._fifo else 0)

    def _update_irq(self):
        # On a PC the UART's interrupt reaches the PIC through a buffer enabled by the OUT2 pin;
        # loopback forces the output pins inactive, which closes that buffer too.
        level = self._pending() != IIR_NONE and self._mcr & (MCR_OUT2 | MCR_LOOP) == MCR_OUT2
        if level != self.irq_level:
            self.irq_level = level
            if self.irq is not None:
                self.irq(level)

