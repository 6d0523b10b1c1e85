"""The debugging options of `vmm run`, QEMU's spelling: -s, -S, -gdb tcp::PORT, -d ITEMS, -D FILE.

`add_debug_options(parser)` adds them to an argparse parser; `apply_debug_options(args,
machine)` turns them on for a loaded Machine and returns the function that runs it
(Machine.run, or the gdb stub's run when a debugger may attach), same signature and result.

Example:
    add_debug_options(run_parser)
    ...
    run = apply_debug_options(args, machine)
    result = run(max_insns=args.max_insns, timeout=args.timeout)
"""

import sys

from .trace import CATEGORIES, Trace
from ..errors import VmmError

DEFAULT_GDB = "tcp::1234"


def add_debug_options(parser):
    group = parser.add_argument_group("debugging")
    group.add_argument("-s", dest="gdb_default", action="store_true",
                       help=f"gdb stub on {DEFAULT_GDB} (shorthand for -gdb {DEFAULT_GDB})")
    group.add_argument("-S", dest="gdb_wait", action="store_true",
                       help="do not run the guest until gdb connects and continues (implies -s unless -gdb is given)")
    group.add_argument("-gdb", dest="gdb", metavar="tcp::PORT",
                       help="gdb stub on tcp::PORT or tcp:HOST:PORT (gdb: target remote :PORT)")
    group.add_argument("-d", dest="log_items", metavar="ITEMS",
                       help=f"log items, comma-separated: {','.join(CATEGORIES)}")
    group.add_argument("-D", dest="log_file", metavar="FILE", help="write the -d log to FILE (default stderr)")


def apply_debug_options(args, machine):
    """Enable the options in `args` on `machine`; return the run function to call."""
    if args.log_items:
        try:
            out = open(args.log_file, "w") if args.log_file else sys.stderr
        except OSError as error:
            raise VmmError(f"-D {args.log_file}: {error.strerror}") from None
        machine.trace = Trace.from_spec(args.log_items, out)
    spec = args.gdb or (DEFAULT_GDB if args.gdb_default or args.gdb_wait else None)
    if spec is None:
        return machine.run
    from .gdbstub import GdbStub, parse_address
    host, port = parse_address(spec)
    try:
        stub = GdbStub(machine, port=port, host=host, wait=args.gdb_wait)
    except OSError as error:
        raise VmmError(f"-gdb {spec}: cannot listen: {error.strerror}") from None
    print(f"vmm: gdb stub on {host}:{stub.port}" + (", waiting for gdb" if args.gdb_wait else ""),
          file=sys.stderr)
    return stub.run
