"""The `vmm` command: run a guest QEMU-style, inspect its translation, benchmark the engines.

Every option value goes through vmm.options before anything runs; a bad one (or a bad image,
an output file that cannot be written) is one line on stderr and exit status 2, never a
traceback.  Heavy modules (the machine, LIEF, rich, matplotlib) are imported by the
subcommand that uses them, so `vmm --help` and bad arguments answer at once.

Example:
    vmm run examples/images/hello.elf
    vmm inspect examples/images/hello.elf --at entry
    vmm bench --sizes 200,2000 --out-dir /tmp/bench
"""

import argparse
import contextlib
import os
import signal
import sys

from . import __version__, options
from .cache import DEFAULT_LIMIT as DEFAULT_TCACHE, JIT_THRESHOLD
from .debug.options import add_debug_options, apply_debug_options
from .guests.command import GUESTS, guest_command

EXIT_BAD_INPUT, EXIT_GUEST_DIED, EXIT_TIMEOUT, EXIT_INTERRUPTED = 2, 4, 124, 130

EXIT_STATUS = """exit status:
  (v << 1) | 1  the guest wrote v to isa-debug-exit (port 0xf4), as QEMU's -device isa-debug-exit
  0             the guest halted with interrupts off, --max-insns was reached, or Ctrl-A x
  2             bad arguments, a bad image or an output that cannot be written (one line on stderr)
  4             the guest died: an exception with no IDT to take it, memory it does not have
  124           --timeout
  130           interrupted (Ctrl-C when stdin is not a terminal, or SIGINT)"""

RUN_EPILOG = f"""examples:
  vmm run examples/images/hello.elf
  vmm run examples/images/bench.elf --append iters=1000 -m 64M
  vmm run --kernel vmlinuz --initrd initrd.gz --append console=ttyS0 -m 256M
  vmm run code.bin --load-address 0x100000 --engine interp --max-insns 1000000
  vmm run examples/images/bench.elf --check --serial file:/tmp/serial.txt

A one-line summary (instructions, seconds, MIPS, blocks compiled and loaded from the
persistent translation cache, why the run stopped) goes to stderr; -v adds a line a second.
Standard input feeds COM1.  On a terminal, as QEMU's -nographic, every key goes to the guest
(Ctrl-C too) but the escapes: Ctrl-A x quits, Ctrl-A h lists them, Ctrl-A Ctrl-A sends Ctrl-A.

{EXIT_STATUS}"""

INSPECT_EPILOG = """examples:
  vmm inspect examples/images/hello.elf --at entry          # translate one block, no run
  vmm inspect examples/images/bench.elf --append iters=10 --top 5 --html report.html

The guest's serial output goes where --serial says (default: discarded, so it does not mix
with the report); the stop reason and exit status are printed after the blocks.

exit status: 0 when the report was written, whatever the guest did (its stop reason and
the status `vmm run` would give are in the report); 2 for bad arguments, a bad image or an
--at address outside RAM."""

BENCH_EPILOG = """examples:
  vmm bench                                   # the full comparison, one to two minutes
  vmm bench --sizes 200,2000 --micro-n 20000 --out-dir /tmp/bench

Writes bench-results.json (every figure, and details too wide for the tables) and
bench-results.png into --out-dir.  Peers not installed are listed with how to install them.
The chart needs matplotlib: pip install 'vmm[bench]'.

exit status: 0 when the tables and files were written; 2 for bad arguments or an output
directory that cannot be written."""

GUEST_EPILOG = """examples:
  sudo vmm guest fetch debian-i386           # Debian 12's i386 kernel and a busybox initramfs
  vmm guest fetch debian-i386 --force        # fetch again, replacing the cached files

Runs dpkg --add-architecture i386, apt-get update and apt-get download (as root; Debian's
mirrors are the only network access), then caches the kernel, the initramfs and a manifest in
$XDG_CACHE_HOME/vmm/guests/NAME (~/.cache by default).  Prints the package versions and the
two paths; with the guest cached, prints them without fetching.

exit status: 0 when the guest is in the cache; 2 when it cannot be fetched (one line on stderr)."""


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Every option's default in its help (unless the help says it, or there is none); epilogs
    kept as written."""

    def _get_help_string(self, action):
        if "default" in action.help or action.default is None or action.default is False \
                or action.default in ("", argparse.SUPPRESS):
            return action.help
        return action.help + " (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """argparse with errors on one line (and exit status 2), naming the subcommand."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def _subparser(sub, name, help, epilog):
    return sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".", epilog=epilog,
                          formatter_class=Formatter)


def _add_guest_options(p):
    """The options `run` and `inspect` share: the image, its RAM, command line and load address."""
    p.add_argument("image", nargs="?", help="the guest: a Linux bzImage, a multiboot ELF kernel, or a flat "
                                            "binary with --load-address")
    p.add_argument("--kernel", metavar="IMAGE", help="the guest image, QEMU's spelling (instead of IMAGE)")
    p.add_argument("--initrd", metavar="FILE", help="an initial ramdisk for a Linux bzImage")
    p.add_argument("-m", "--memory", type=options.memory_mb, default="128", metavar="SIZE",
                   help="guest RAM, as QEMU's -m: MiB (128) or with a suffix (64M, 1G)")
    p.add_argument("--append", default="", metavar="CMDLINE", help="the kernel command line (Linux, multiboot)")
    p.add_argument("--load-address", type=options.address, default=None, metavar="ADDR",
                   help="load IMAGE as a flat binary at ADDR and start there (default: IMAGE is multiboot)")


def build_parser():
    parser = Parser(prog="vmm", formatter_class=Formatter,
                    description="A binary-translation VMM for 32-bit x86 guests.",
                    epilog="run 'vmm COMMAND --help' for a command's options and examples\n\n" + EXIT_STATUS)
    parser.add_argument("--version", action="version", version=f"vmm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    run = _subparser(sub, "run", "run a guest image", RUN_EPILOG)
    _add_guest_options(run)
    run.add_argument("--engine", choices=("jit", "interp"), default="jit",
                     help="jit: the LLVM translator; interp: the reference interpreter")
    run.add_argument("--jit-tier", type=int, choices=(0, 2), default=0,
                     help="tier blocks are first compiled at: 0 fast code first, 2 optimised at once")
    run.add_argument("--jit-threshold", type=options.positive, default=None, metavar="N",
                     help="runs of a block in the interpreter before it is translated (1: translate at once; "
                          "default: %d)" % JIT_THRESHOLD)
    run.add_argument("--serial", type=options.serial, default="stdio", metavar="DEV",
                     help="COM1 output: stdio, null or file:PATH")
    run.add_argument("--max-insns", type=options.count, default=None, metavar="N",
                     help="stop after N guest instructions (default: no limit)")
    run.add_argument("--timeout", type=options.seconds, default=None, metavar="S",
                     help="stop after S seconds (default: no limit)")
    run.add_argument("--check", action="store_true",
                     help="run the translator and the interpreter in lockstep; stop at the first divergence")
    run.add_argument("--tcache-size", type=options.positive, default=DEFAULT_TCACHE, metavar="BLOCKS",
                     help="translated blocks kept in memory; all are evicted when a batch would exceed it")
    run.add_argument("--no-tcache", action="store_true",
                     help="do not read or write the persistent translation cache (~/.cache/vmm/tcache)")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="once a second on stderr: MIPS, exits to Python, callouts, blocks compiled")
    add_debug_options(run)
    run.add_argument("--clock", choices=("virtual", "host"), default="virtual",
                     help="guest time: virtual (one instruction is one ns, reproducible runs) or host "
                          "(follows the wall clock, for interactive use)")
    ins = _subparser(sub, "inspect", "show how the translator rewrote a guest, block by block", INSPECT_EPILOG)
    _add_guest_options(ins)
    where = ins.add_mutually_exclusive_group()
    where.add_argument("--at", type=options.address_or_entry, metavar="ADDR",
                       help="translate the block at ADDR (or 'entry', the image's entry point) without running")
    where.add_argument("--run", type=options.count, metavar="N",
                       help="run N instructions first (default: until the guest stops)")
    ins.add_argument("--serial", type=options.serial, default="null", metavar="DEV",
                     help="the guest's COM1 output: stdio, null or file:PATH")
    ins.add_argument("--top", type=options.positive, default=10, metavar="K",
                     help="show (and write to --html) the K hottest blocks")
    ins.add_argument("--html", type=options.output_file, metavar="OUT.html",
                     help="also write a self-contained HTML report of those blocks")
    ins.add_argument("--no-ir", action="store_true", help="terminal view without LLVM IR")
    bench = _subparser(sub, "bench", "compare vmm's engines with QEMU, Unicorn and native code", BENCH_EPILOG)
    bench.add_argument("--sizes", type=options.sizes, default="2000,20000,100000", metavar="N,N,...",
                       help="bench guest iteration counts")
    bench.add_argument("--interp-iters", type=options.positive, default=20, metavar="N",
                       help="iterations for the interpreter's run")
    bench.add_argument("--micro-n", type=options.positive, default=200_000, metavar="N",
                       help="nanobenchmark scale: each engine's n is calibrated so that its 2n "
                            "iterations take 0.4 s at 200000 or more, proportionally less below "
                            "(timed at n and 3n; the difference is reported)")
    bench.add_argument("--out-dir", type=options.output_dir, default=".", metavar="DIR",
                       help="directory for bench-results.json and bench-results.png (created if missing)")
    guest = _subparser(sub, "guest", "fetch a ready-made Linux guest into the cache", GUEST_EPILOG)
    action = guest.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=Parser,
                                  help="fetch (the one action so far)")
    fetch = action.add_parser("fetch", help="fetch NAME (or find it in the cache); print its versions and paths",
                              formatter_class=Formatter)
    fetch.add_argument("name", choices=GUESTS, metavar="NAME", help=f"the guest: {', '.join(GUESTS)}")
    fetch.add_argument("--force", action="store_true", help="fetch again even if it is in the cache")
    parser.subcommands = {"run": run, "inspect": ins, "bench": bench, "guest": fetch}   # guest's one action
    return parser


def parse(parser, argv):
    """Parse; arguments a subcommand does not know are reported with that subcommand's usage."""
    args, extras = parser.parse_known_args(argv)
    command = parser.subcommands[args.command]
    if extras:
        hint = " (QEMU's -kernel is --kernel here)" if "-kernel" in extras else ""
        command.error(f"unrecognized arguments: {' '.join(extras)}{hint}")
    if "image" in args:
        if args.image and args.kernel:
            command.error("give the image once: as IMAGE or as --kernel IMAGE")
        args.image = args.image or args.kernel
        if not args.image:
            command.error("the guest image is required: vmm %s IMAGE (or --kernel IMAGE)" % args.command)
    return args


def _fail(message, status=EXIT_BAD_INPUT):
    print(f"vmm: {message}", file=sys.stderr)
    return status


def _load(machine, args):
    machine.load(args.image, cmdline=args.append, address=args.load_address, initrd=args.initrd)


def run_command(args):
    from .lockstep import lockstep
    from .machine import Machine
    serial = args.serial.open(sys.stdout.buffer)
    engine = "jit" if args.check else args.engine
    machine = Machine(memory_mb=args.memory, engine=engine, serial=serial, jit_tier=args.jit_tier,
                      clock=args.clock, tcache_size=args.tcache_size, persistent_tcache=not args.no_tcache,
                      jit_threshold=args.jit_threshold)
    _load(machine, args)
    if args.check:      # Ctrl-C here is a KeyboardInterrupt: a stop request would read as a divergence
        shadow = Machine(memory_mb=args.memory, engine="interp", serial=None)
        _load(shadow, args)
        _queue_input(machine, shadow)
        try:
            report = lockstep(machine, shadow, max_insns=args.max_insns, timeout=args.timeout)
        except KeyboardInterrupt:
            _flush(serial)
            print(f"lockstep: interrupted (Ctrl-C) after {machine.state.icount} instructions, "
                  "no divergence so far", file=sys.stderr)
            return EXIT_INTERRUPTED
        _flush(serial)
        print(report.describe(), file=sys.stderr)
        return EXIT_GUEST_DIED if report.divergence else EXIT_TIMEOUT if report.reason == "timeout" else 0
    run = apply_debug_options(args, machine)
    with _stop_on_sigint(machine), _console_input(machine), _progress(machine, args.verbose):
        result = run(max_insns=args.max_insns, timeout=args.timeout)
    _flush(serial)
    print(result.summary(), file=sys.stderr)
    return exit_status(result)


def _progress(machine, verbose):
    """-v: a progress line a second on stderr for the length of the run."""
    if not verbose:
        return contextlib.nullcontext()
    from .debug.progress import Progress
    return Progress(machine, sys.stderr)


@contextlib.contextmanager
def _console_input(machine):
    """Standard input feeds the guest's COM1, as QEMU's `-nographic`: a terminal in raw mode
    for the length of the run (always restored), every key for the guest (Ctrl-C too) but
    the Ctrl-A escapes (Ctrl-A x quits); a pipe or file as it arrives, byte for byte."""
    from .devices.console import ConsoleInput, RawTerminal
    from .devices.escape import HELP, escaped
    if sys.stdin is None:
        yield
        return
    feed = machine.devices["com1"].feed
    if sys.stdin.isatty():
        feed = escaped(feed, {"quit": lambda: machine.stop("quit", 0, "Ctrl-A x"),
                              "help": lambda: print(HELP, end="", file=sys.stderr, flush=True)})
    with RawTerminal(sys.stdin, signals=False):
        ConsoleInput(machine.clock, feed, fd=sys.stdin.fileno()).start()
        yield


def _queue_input(*machines):
    """Under --check, piped input is read whole and queued in every machine's COM1 before
    the run, so both engines see it at the same instruction (a terminal gives none)."""
    if sys.stdin is None or sys.stdin.isatty():
        return
    data = sys.stdin.buffer.read()
    for machine in machines:
        machine.devices["com1"].feed(data)


def _flush(serial):
    if serial is not None:
        serial.flush()


def exit_status(result):
    """The command's exit status for a RunResult (see EXIT_STATUS)."""
    return {"exit": result.exit_code, "error": EXIT_GUEST_DIED, "timeout": EXIT_TIMEOUT,
            "interrupted": EXIT_INTERRUPTED}.get(result.reason, 0)


class _stop_on_sigint:
    """While the guest runs, Ctrl-C asks the monitor loop to stop after the current slice (the
    machine stays consistent and the run ends with reason 'interrupted'); a second Ctrl-C
    interrupts at once (KeyboardInterrupt, handled in main)."""

    def __init__(self, machine):
        self.machine = machine

    def _handler(self, signum, frame):
        if self.machine.stop_reason == "interrupted":
            raise KeyboardInterrupt
        if self.machine.stop_reason is None:
            self.machine.stop("interrupted", 0, "Ctrl-C")

    def __enter__(self):
        self.previous = signal.signal(signal.SIGINT, self._handler)

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self.previous)


def inspect_command(args):
    from rich.console import Console
    from .inspect import inspect_image
    from .inspect.html import render_html
    from .inspect.terminal import render, render_outcome
    console = Console()
    serial = args.serial.open(sys.stdout.buffer)
    report = inspect_image(args.image, at=args.at, run=args.run, memory_mb=args.memory, cmdline=args.append,
                           address=args.load_address, limit=args.top, serial=serial, initrd=args.initrd)
    _flush(serial)
    render(report.views, console, show_ir=not args.no_ir)
    render_outcome(report, args.serial.describe(), console)
    if args.html:
        args.html.write_text(render_html(report.views, title=f"vmm inspect {args.image}", summary=report.summary()))
        print(f"vmm: wrote {args.html} ({len(report.views)} of {report.live_blocks} blocks, --top {args.top})",
              file=sys.stderr)
    return 0


def bench_command(args):
    from .bench.command import bench
    return bench(args.sizes, args.interp_iters, args.micro_n, args.out_dir)


def main(argv=None):
    from .errors import ImageError, VmmError
    args = parse(build_parser(), argv)
    commands = {"run": run_command, "inspect": inspect_command, "bench": bench_command, "guest": guest_command}
    try:
        return commands[args.command](args)
    except (ImageError, options.BadOption) as error:
        return _fail(error)
    except OSError as error:                   # an output that went away after it was checked
        return _fail(f"{error.strerror or error}" + (f": {error.filename}" if error.filename else ""))
    except VmmError as error:                  # anything else we anticipated: one line, no traceback
        return _fail(error, EXIT_GUEST_DIED)
    except KeyboardInterrupt:
        return _fail("interrupted (Ctrl-C)", EXIT_INTERRUPTED)


class _TerminalModes:
    """The modes of the terminal on stdin, put back however the command ends: a device or a
    debugger that switched it to raw mode must not leave the user's shell in it."""

    def __init__(self):
        self.saved = None
        if sys.stdin is not None and sys.stdin.isatty():
            import termios
            self.saved = termios.tcgetattr(sys.stdin.fileno())

    def restore(self):
        if self.saved is not None:
            import termios
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self.saved)


def entry():
    """The `vmm` command (console script and `python3 -m vmm`): main(), then leave at once.
    Everything the command writes is flushed or closed by then (the UART flushes every byte);
    what a normal interpreter exit would add is waiting for tier-2 compilations nobody will
    run and tearing down LLVM and LIEF, about a third of `vmm run hello.elf`'s wall time."""
    terminal = _TerminalModes()
    try:
        status = main()
    finally:
        terminal.restore()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):           # a closed pipe: nothing more can be said
            pass
    os._exit(status)
