"""`vmm bench`: run the suite with progress, print the tables, write the JSON and the chart.

Progress is a spinner on a terminal and a line per finished measurement otherwise (a log, a
CI job).  Output files go into `out_dir` (created if missing).  Without matplotlib the
tables and JSON are still written, and one line says how to get the chart.

Example:
    bench(sizes=(200, 2000), interp_iters=2, micro_n=20_000, out_dir=Path("/tmp/bench"))
"""

import sys

from rich.console import Console

from .harness import run_suite
from .report import print_report, write_chart, write_json

WIDTH = 100


def bench(sizes, interp_iters, micro_n, out_dir):
    console = Console(width=min(WIDTH, Console().width) if sys.stdout.isatty() else WIDTH)
    out_dir.mkdir(exist_ok=True)
    json_path, chart_path = out_dir / "bench-results.json", out_dir / "bench-results.png"
    if console.is_terminal:
        with console.status("benchmarking") as status:
            results = run_suite(sizes, interp_iters, micro_n, progress=lambda msg: status.update(f"done: {msg}"))
    else:
        results = run_suite(sizes, interp_iters, micro_n,
                            progress=lambda msg: print(f"vmm bench: {msg}", file=sys.stderr, flush=True))
    print_report(results, console)
    write_json(results, json_path)
    written = [json_path]
    try:
        write_chart(results, chart_path)
        written.append(chart_path)
    except ImportError as error:
        print(f"vmm bench: no chart: {error}", file=sys.stderr)
    console.print(f"wrote {' and '.join(map(str, written))}", markup=False, highlight=False)
    return 0
