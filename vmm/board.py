"""The board: which device sits at which address, assembled in one place (Firecracker builder.rs).

Example:
    devices = attach_devices(machine, serial=sys.stdout.buffer)
    devices["com1"].feed(b"ls\\n")
"""

from .devices import layout
from .devices.debugexit import DebugExit
from .devices.post import PostPort
from .devices.uart16550 import Uart16550
from .devices.vga import VgaText


def attach_devices(m, serial):
    """Create the PC's devices, map them on the machine's buses, return them by name."""
    com1 = Uart16550(out=serial)
    debug_exit = DebugExit(on_exit=lambda code: m.stop("exit", code, f"guest wrote to the debug-exit port: exit code {code}"))
    post = PostPort()
    m.io.register(layout.COM1_PORT, layout.UART_PORTS, com1)
    m.io.register(layout.DEBUG_EXIT_PORT, layout.DEBUG_EXIT_PORTS, debug_exit)
    m.io.register(layout.POST_PORT, 1, post)
    return {"com1": com1, "debug_exit": debug_exit, "post": post, "vga": VgaText(m.memory)}
