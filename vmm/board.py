"""The board: which device sits at which address, assembled in one place (Firecracker builder.rs).

A PC's legacy devices: the 8259A pair (`m.pic`), the 8254 PIT with port 0x61, the CMOS/RTC,
the i8042 with its keyboard and mouse, COM1 on IRQ 4, PCI configuration ports with no
device behind them, the POST port, isa-debug-exit and the VGA text buffer.  Interrupts go
through the PIC, whose INTR output calls `m.request_interrupt_check()` (when the machine has
it) so the monitor can stop translated code and deliver them.  Resets asked for by the guest
(i8042 0xFE, port 0xCF9) stop the run with reason "reset".

What the monitor does for these devices (tests/devices/test_timer_guest.py runs it):
between slices of guest code, `m.clock.run_due()` fires due device timers; each slice
ends by `m.clock.next_deadline()` (one instruction is one virtual ns), and
`m.clock.on_change` is called when a device arms a timer during a slice, which may need
to end sooner; when EFLAGS.IF is set and `m.pic.has_interrupt()`, the vector of
`m.pic.acknowledge()` is delivered through the IDT; `hlt` with IF set skips to the next
deadline (`m.clock.idle()`) instead of ending the run.

Example:
    devices = attach_devices(machine, serial=sys.stdout.buffer)
    devices["com1"].feed(b"ls\\n")
    devices["pic"].raise_irq(1)
"""

from .devices import layout
from .devices.cmos import Cmos
from .devices.debugexit import DebugExit
from .devices.i8042 import I8042
from .devices.pci import PciHost
from .devices.pic8259 import PicPair
from .devices.pit8254 import Pit8254, PortB
from .devices.post import PostPort
from .devices.uart16550 import Uart16550
from .devices.vga import VgaText


def attach_devices(m, serial):
    """Create the PC's devices, map them on the machine's buses, return them by name."""
    pic = PicPair(on_intr=getattr(m, "request_interrupt_check", _nothing))
    m.pic = pic

    def pulse(irq):
        return lambda: (pic.raise_irq(irq), pic.lower_irq(irq))

    def reset(how):
        return lambda: m.stop("reset", 0, f"guest requested a reset through {how}")

    com1 = Uart16550(out=serial, irq=lambda level: pic.set_irq(layout.COM1_IRQ, level))
    pit = Pit8254(m.clock, irq0=pulse(layout.PIT_IRQ))
    cmos = Cmos(m.clock, ram_bytes=m.memory.size, irq=pulse(layout.RTC_IRQ))
    kbc = I8042(reset=reset("the i8042"), irq=pic.set_irq)
    pci = PciHost(reset=reset("the PCI reset control register"))
    debug_exit = DebugExit(on_exit=lambda code: m.stop("exit", code, f"guest wrote to the debug-exit port: exit code {code}"))
    post = PostPort()
    for port, length, device in (
            (layout.PIC_MASTER_PORT, layout.PIC_PORTS, pic.master),
            (layout.PIC_SLAVE_PORT, layout.PIC_PORTS, pic.slave),
            (layout.PIT_PORT, layout.PIT_PORTS, pit),
            (layout.SYSTEM_PORT_B, 1, PortB(pit, m.clock)),
            (layout.KBD_DATA_PORT, 1, kbc.data_port),
            (layout.KBD_STATUS_PORT, 1, kbc.command_port),
            (layout.CMOS_PORT, layout.CMOS_PORTS, cmos),
            (layout.PCI_CONFIG_PORT, layout.PCI_CONFIG_PORTS, pci),
            (layout.COM1_PORT, layout.UART_PORTS, com1),
            (layout.DEBUG_EXIT_PORT, layout.DEBUG_EXIT_PORTS, debug_exit),
            (layout.POST_PORT, 1, post)):
        m.io.register(port, length, device)
    return {"pic": pic, "pit": pit, "cmos": cmos, "i8042": kbc, "pci": pci, "com1": com1,
            "debug_exit": debug_exit, "post": post, "vga": VgaText(m.memory)}


def _nothing():
    """INTR with no monitor listening: the machine polls has_interrupt() itself."""
