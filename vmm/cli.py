"""The `vmm` command: run a guest, QEMU-style.

    vmm run IMAGE [--engine jit|interp] [--jit-tier 0|2] [--check] [-m MB] [--append CMDLINE]
                  [--serial stdio|file:PATH] [--max-insns N] [--timeout S] [--load-address ADDR]

Exit status: the guest's isa-debug-exit code ((value << 1) | 1, as QEMU) when
it wrote one; 0 when it halted or hit --max-insns; 2 for a bad image or bad
arguments; 4 when the guest died (an exception it cannot handle, a touch of
memory it does not have); 124 on --timeout.  A one-line summary goes to stderr.

Example:
    vmm run examples/images/hello.elf
"""

import argparse
import sys

from .errors import ImageError, VmmError
from .lockstep import lockstep
from .machine import ENGINES, Machine

EXIT_BAD_IMAGE, EXIT_GUEST_DIED, EXIT_TIMEOUT = 2, 4, 124


def _serial(spec):
    if spec == "stdio":
        return sys.stdout.buffer
    if spec.startswith("file:"):
        return open(spec[5:], "wb")
    raise argparse.ArgumentTypeError(f"--serial takes stdio or file:PATH, not {spec!r}")


def _int(text):
    return int(text, 0)


def build_parser():
    parser = argparse.ArgumentParser(prog="vmm", description="Binary-translation VMM for 32-bit x86 guests")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a guest image (multiboot ELF, or flat binary with --load-address)")
    run.add_argument("image")
    run.add_argument("--engine", choices=sorted(ENGINES), default="jit")
    run.add_argument("--jit-tier", type=int, choices=(0, 2), default=0,
                     help="tier blocks are first compiled at: 0 fast code first (default), 2 optimised at once")
    run.add_argument("-m", "--memory", type=int, default=128, metavar="MB", help="guest RAM in MiB (default 128)")
    run.add_argument("--append", default="", metavar="CMDLINE", help="kernel command line")
    run.add_argument("--serial", type=_serial, default="stdio", help="COM1 output: stdio or file:PATH")
    run.add_argument("--max-insns", type=int, default=None, metavar="N", help="stop after N guest instructions")
    run.add_argument("--timeout", type=float, default=None, metavar="S", help="stop after S seconds")
    run.add_argument("--check", action="store_true",
                     help="run the translator and the interpreter in lockstep; stop at the first divergence")
    run.add_argument("--load-address", type=_int, default=None, metavar="ADDR",
                     help="load IMAGE as a flat binary at ADDR and start there")
    ins = sub.add_parser("inspect", help="show how the translator rewrote a guest, block by block")
    ins.add_argument("image")
    where = ins.add_mutually_exclusive_group()
    where.add_argument("--at", type=_int, metavar="ADDR", help="translate the block at ADDR without running")
    where.add_argument("--run", type=int, metavar="N", help="run N instructions first (default: until the guest stops)")
    ins.add_argument("--append", default="", metavar="CMDLINE")
    ins.add_argument("-m", "--memory", type=int, default=128, metavar="MB")
    ins.add_argument("--top", type=int, default=10, metavar="K", help="show the K hottest blocks (default 10)")
    ins.add_argument("--html", metavar="OUT.html", help="also write a self-contained HTML report")
    ins.add_argument("--no-ir", action="store_true", help="terminal view without LLVM IR")
    bench = sub.add_parser("bench", help="compare vmm's engines with QEMU, Unicorn and native code")
    bench.add_argument("--sizes", default="2000,20000,100000",
                       help="bench guest iteration counts (default 2000,20000,100000)")
    bench.add_argument("--interp-iters", type=int, default=20, help="iterations for the interpreter run")
    bench.add_argument("--micro-n", type=int, default=2_000_000,
                       help="nanobenchmark iterations (timed at n and 3n; the difference is reported)")
    bench.add_argument("--json", default="bench-results.json", metavar="PATH")
    bench.add_argument("--chart", default="bench-results.png", metavar="PATH")
    return parser


def bench_command(args):
    from rich.console import Console
    from .bench.harness import run_suite
    from .bench.report import print_report, write_chart, write_json
    console = Console() if sys.stdout.isatty() else Console(width=160)
    sizes = tuple(int(x) for x in args.sizes.split(","))
    with console.status("benchmarking") as status:
        results = run_suite(sizes=sizes, interp_iters=args.interp_iters, micro_n=args.micro_n,
                            progress=lambda msg: status.update(f"benchmarking: {msg}"))
    print_report(results, console)
    write_json(results, args.json)
    write_chart(results, args.chart)
    console.print(f"wrote {args.json} and {args.chart}", markup=False)
    return 0


def inspect_command(args):
    from rich.console import Console
    from .inspect import inspect_image
    from .inspect.html import render_html
    from .inspect.terminal import render
    try:
        machine, views = inspect_image(args.image, at=args.at, run=args.run, memory_mb=args.memory,
                                       cmdline=args.append, limit=None if args.html else args.top)
    except ImageError as error:
        print(f"vmm: {error}", file=sys.stderr)
        return EXIT_BAD_IMAGE
    render(views[:args.top], Console(stderr=False), show_ir=not args.no_ir)
    if args.html:
        summary = f"{machine.state.icount} guest instructions; {len(views)} live blocks"
        with open(args.html, "w") as out:
            out.write(render_html(views, title=f"vmm inspect {args.image}", summary=summary))
        print(f"vmm: wrote {args.html} ({len(views)} blocks)", file=sys.stderr)
    return 0


def run_command(args):
    if not 2 <= args.memory <= 3072:
        print(f"vmm: -m {args.memory}: guest RAM must be 2..3072 MiB", file=sys.stderr)
        return EXIT_BAD_IMAGE
    engine = "jit" if args.check else args.engine
    machine = Machine(memory_mb=args.memory, engine=engine, serial=args.serial, jit_tier=args.jit_tier)
    try:
        machine.load(args.image, cmdline=args.append, address=args.load_address)
    except ImageError as error:
        print(f"vmm: {error}", file=sys.stderr)
        return EXIT_BAD_IMAGE
    if args.check:
        return check_command(args, machine)
    result = machine.run(max_insns=args.max_insns, timeout=args.timeout)
    args.serial.flush()
    print(result.summary(), file=sys.stderr)
    if result.reason == "exit":
        return result.exit_code
    if result.reason == "error":
        return EXIT_GUEST_DIED
    if result.reason == "timeout":
        return EXIT_TIMEOUT
    return 0


def check_command(args, machine):
    """--check: the interpreter shadows the translator; a divergence exits with status 4."""
    shadow = Machine(memory_mb=args.memory, engine="interp", serial=None)
    shadow.load(args.image, cmdline=args.append, address=args.load_address)
    report = lockstep(machine, shadow, max_insns=args.max_insns, timeout=args.timeout)
    args.serial.flush()
    print(report.describe(), file=sys.stderr)
    return EXIT_GUEST_DIED if report.divergence else EXIT_TIMEOUT if report.reason == "timeout" else 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        commands = {"run": run_command, "inspect": inspect_command, "bench": bench_command}
        return commands[args.command](args)
    except VmmError as error:                  # anything else we anticipated: one line, no traceback
        print(f"vmm: {error}", file=sys.stderr)
        return EXIT_GUEST_DIED


if __name__ == "__main__":
    sys.exit(main())
