"""Debugging guests: a gdb remote stub (gdbstub.py), QEMU-style trace logs (trace.py) and the
command-line options that turn them on (options.py).

Example:
    from vmm.debug.trace import Trace
    machine.trace = Trace.from_spec("int,callout", open("vmm.log", "w"))
"""
