"""A 16550A UART (COM1), register-accurate enough for Linux's 8250 driver probe.

Output is instant: a byte written to THR goes straight to `out` (a binary file such as
sys.stdout.buffer), so LSR always shows THRE and TEMT.  Input bytes are queued with
`feed()`.  The interrupt line is reported through the optional `irq(level)` callback
(gated by MCR.OUT2, as on a PC).

Registers (offset: DLAB=0 / DLAB=1):
    0 RBR (read) THR (write) / DLL     1 IER / DLM     2 IIR (read) FCR (write)
    3 LCR   4 MCR   5 LSR   6 MSR   7 SCR

Example:
    uart = Uart16550(out=sys.stdout.buffer)
    uart.write(0, 1, ord("A"))           # prints "A"
    uart.read(5, 1) & 0x20               # THRE: ready for the next byte
"""

from collections import deque

from .bus import Device

IER_RX, IER_THRE, IER_LSR, IER_MSR = 1, 2, 4, 8
LSR_DR, LSR_THRE, LSR_TEMT = 0x01, 0x20, 0x40
MCR_DTR, MCR_RTS, MCR_OUT1, MCR_OUT2, MCR_LOOP = 1, 2, 4, 8, 0x10
IIR_NONE, IIR_THRE, IIR_RX, IIR_FIFO = 0x01, 0x02, 0x04, 0xC0


class Uart16550(Device):
    def __init__(self, out=None, irq=None):
        self.out = out
        self.irq = irq
        self.rx = deque()
        self.ier = self.lcr = self.mcr = self.scr = self.fcr = 0
        self.dll, self.dlm = 0x0C, 0               # 9600 baud until the guest sets a divisor
        self.thre_pending = False
        self.line = False

    def feed(self, data):
        """Queue received bytes (what a user types)."""
        self.rx.extend(data)
        self._update_irq()

    # ---- registers ---------------------------------------------------------------------
    def read(self, offset, size):
        dlab = self.lcr & 0x80
        if offset == 0:
            if dlab:
                return self.dll
            value = self.rx.popleft() if self.rx else 0
            self._update_irq()
            return value
        if offset == 1:
            return self.dlm if dlab else self.ier
        if offset == 2:
            return self._read_iir()
        if offset == 3:
            return self.lcr
        if offset == 4:
            return self.mcr
        if offset == 5:
            return LSR_THRE | LSR_TEMT | (LSR_DR if self.rx else 0)
        if offset == 6:
            return self._msr()
        return self.scr

    def write(self, offset, size, value):
        value &= 0xFF
        dlab = self.lcr & 0x80
        if offset == 0:
            if dlab:
                self.dll = value
            else:
                self._transmit(value)
        elif offset == 1:
            if dlab:
                self.dlm = value
            else:
                # Enabling the THRE interrupt with THR empty raises it at once (8250 behaviour).
                if value & IER_THRE and not self.ier & IER_THRE:
                    self.thre_pending = True
                self.ier = value & 0x0F
        elif offset == 2:
            self.fcr = value & 0xC9                 # FIFO enable, DMA mode, trigger level
            if value & 0x02:
                self.rx.clear()
        elif offset == 3:
            self.lcr = value
        elif offset == 4:
            self.mcr = value & 0x1F
        elif offset == 7:
            self.scr = value
        self._update_irq()

    # ---- behaviour ---------------------------------------------------------------------
    def _transmit(self, value):
        if self.mcr & MCR_LOOP:                     # loopback: THR feeds RBR, nothing leaves
            self.rx.append(value)
        elif self.out is not None:
            self.out.write(bytes((value,)))
            self.out.flush()
        self.thre_pending = True                    # output is instant: THR is empty again

    def _msr(self):
        if self.mcr & MCR_LOOP:                     # DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD
            m = self.mcr
            return (((m & MCR_RTS) << 3) | ((m & MCR_DTR) << 5) | ((m & MCR_OUT1) << 4) | ((m & MCR_OUT2) << 4))
        return 0xB0                                 # DCD, DSR, CTS: a terminal is attached

    def _pending(self):
        if self.ier & IER_RX and self.rx:
            return IIR_RX
        if self.ier & IER_THRE and self.thre_pending:
            return IIR_THRE
        return IIR_NONE

    def _read_iir(self):
        source = self._pending()
        if source == IIR_THRE:
            self.thre_pending = False               # reading IIR acknowledges THRE
            self._update_irq()
        return source | (IIR_FIFO if self.fcr & 1 else 0)

    def _update_irq(self):
        level = self._pending() != IIR_NONE and bool(self.mcr & MCR_OUT2)
        if level != self.line:
            self.line = level
            if self.irq is not None:
                self.irq(level)
