"""The benchmark report: terminal tables (rich) that fit 100 columns, a JSON file with every
figure, and a PNG chart (matplotlib, the `vmm[bench]` extra).

Ratios are computed here from one run's measurements, like for like: engines against each
other by whole-process wall time (`process_s`: everything a user waits for), the translator
against the interpreter by the run alone (`run_s`: both in vmm, start-up aside), and in steady
state by the difference between sizes (`marginal`), where start-up and translation cancel.
Nanobenchmarks: ns per iteration per engine; QEMU's figure is starred where QEMU ran with
-icount (its `qemu_mode`; harness.QEMU_ICOUNT) and is "-" where it has none.

Example:
    results = run_suite(); print_report(results, Console()); write_json(results, "out.json")
"""

import json

from rich.markup import escape
from rich.table import Table

ENGINES = ("vmm-jit", "qemu", "native", "unicorn", "vmm-interp")
COLOURS = dict(zip(ENGINES, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")))   # every panel
CHART_HELP = "the chart needs matplotlib: pip install 'vmm[bench]'"


def _by(results, engine, iters):
    return next((r for r in results["guest"] if r["engine"] == engine and r["iters"] == iters), None)


def ratios(results):
    """Per size: the translator's MIPS (whole process, and the run alone), its speed-up over the
    interpreter (run alone) and its ratio to each peer (whole process; >1: vmm faster)."""
    out = []
    interp = next(r for r in results["guest"] if r["engine"] == "vmm-interp")
    for jit in (r for r in results["guest"] if r["engine"] == "vmm-jit"):
        row = {"iters": jit["iters"], "jit_process_mips": jit["process_mips"], "jit_run_mips": jit["run_mips"],
               "speedup_vs_interp": jit["run_mips"] / interp["run_mips"]}
        for peer in ("qemu", "unicorn", "native"):
            other = _by(results, peer, jit["iters"])
            row[f"vs_{peer}"] = other["process_s"] / jit["process_s"] if other else None
        out.append(row)
    return out


def marginal(results):
    """Steady state by difference: per engine run at two or more sizes, the guest MIPS of the
    extra instructions between its smallest and largest run (whole-process times).  Start-up,
    image loading and translation cost the same at both sizes, so they cancel, for vmm and its
    peers alike.  Rows: engine, MIPS, and vmm-jit's ratio to it (>1: vmm faster)."""
    rows = {}
    for engine in dict.fromkeys(r["engine"] for r in results["guest"]):
        runs = sorted((r for r in results["guest"] if r["engine"] == engine), key=lambda r: r["iters"])
        if len(runs) < 2 or runs[-1]["process_s"] <= runs[0]["process_s"]:
            continue
        small, big = runs[0], runs[-1]
        rows[engine] = (big["instructions"] - small["instructions"]) / (big["process_s"] - small["process_s"]) / 1e6
    jit = rows.get("vmm-jit")
    return [{"engine": engine, "mips": mips, "vmm_jit_ratio": jit / mips if jit else None}
            for engine, mips in rows.items()]


def _fmt(value, spec="{:.2f}"):
    return "-" if value is None else spec.format(value)


def _qemu_ns(row):
    """QEMU's figure, starred where QEMU ran with -icount (harness.QEMU_ICOUNT)."""
    star = "*" if "icount" in (row.get("qemu_mode") or "") else ""
    return _fmt(row.get("qemu_ns"), "{:.1f}" + star)


def _table(title, columns, rows):
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*row)
    return table


def print_report(results, console):
    startup = results.get("startup")
    if startup:
        console.print(_table(f"start-up: whole process, {startup['image']} (fastest of 3)",
                             ("vmm run", "qemu-system-i386", "vmm / qemu"),
                             [(f"{startup['vmm-jit']:.3f} s", f"{startup['qemu']:.3f} s",
                               f"{startup['vmm_over_qemu']:.1f}x")]))
    console.print(_table(
        "bench guest: process = whole process (as a user runs it); run = the run alone, in-process",
        ("engine", "iters", "M insns", "process s", "run s", "MIPS process", "MIPS run", "checksum"),
        [(r["engine"], str(r["iters"]), f"{r['instructions'] / 1e6:.1f}", f"{r['process_s']:.3f}",
          _fmt(r.get("run_s"), "{:.3f}"), _fmt(r["process_mips"], "{:.1f}"), _fmt(r["run_mips"], "{:.1f}"),
          str(r.get("checksum"))) for r in results["guest"]]))
    paging = results.get("paging")
    if paging:
        console.print(_table(
            f"paging off vs on (identity-mapped 4 KiB pages), iters={paging['iters']}",
            ("", "vmm run s", "vmm process s", "qemu process s"),
            [("off", f"{paging['vmm_run_off']:.3f}", f"{paging['vmm_off']:.3f}", _fmt(paging["qemu_off"], "{:.3f}")),
             ("on", f"{paging['vmm_run_on']:.3f}", f"{paging['vmm_on']:.3f}", _fmt(paging["qemu_on"], "{:.3f}")),
             ("cost", f"{paging['vmm_cost']:+.1%}", "", _fmt(paging["qemu_cost"], "{:+.1%}"))]))
    console.print(_table(
        "vmm translator, in-process run (more in the JSON)",
        ("iters", "blocks (t2)", "ms/block t0", "ms/block t2", "compile share", "block runs", "Python entries"),
        [(str(r["iters"]), f"{r['blocks_compiled']} ({r['blocks_tier2']})", _fmt(r["compile_ms_per_block_tier0"]),
          _fmt(r["compile_ms_per_block_tier2"]), _fmt(r["compile_share"], "{:.1%}"), str(r["block_executions"]),
          str(r["python_reentries"])) for r in results["guest"] if "blocks_compiled" in r]))
    console.print(_table(
        "vmm translator ratios (>1: vmm faster); peers by whole process, interpreter by run",
        ("iters", "MIPS process", "MIPS run", "vs interp", "vs qemu", "vs unicorn", "vs native"),
        [(str(r["iters"]), f"{r['jit_process_mips']:.1f}", f"{r['jit_run_mips']:.1f}",
          f"{r['speedup_vs_interp']:.0f}x", _fmt(r["vs_qemu"]), _fmt(r["vs_unicorn"]), _fmt(r["vs_native"]))
         for r in ratios(results)]))
    console.print(_table(
        "steady state: difference of the largest and smallest runs, whole process",
        ("engine", "MIPS", "vmm-jit / engine"),
        [(r["engine"], f"{r['mips']:.1f}", _fmt(r["vmm_jit_ratio"])) for r in marginal(results)]))
    console.print(_table(
        "nanobenchmarks: ns per iteration (steady state: runs of 3n minus n; qemu: whole "
        "processes; * -icount, hlt skips to the next timer as in vmm)",
        ("workload", "rewrite class", "vmm-jit", "vmm-interp", "unicorn", "qemu"),
        [(r["name"], r["rewrite"], _fmt(r["vmm-jit_ns"], "{:.1f}"), _fmt(r["vmm-interp_ns"], "{:.0f}"),
          _fmt(r["unicorn_ns"], "{:.1f}"), _qemu_ns(r)) for r in results["micro"]]))
    for peer, why in results["missing"].items():
        console.print(f"[yellow]peer {peer} missing:[/] {escape(why)}")


def write_json(results, path):
    with open(path, "w") as out:
        json.dump(results | {"ratios": ratios(results), "marginal": marginal(results)}, out, indent=2)


def write_chart(results, path):
    """The PNG chart; ImportError (with CHART_HELP) when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(CHART_HELP) from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    groups = sorted({(r["engine"] == "vmm-interp", r["iters"]) for r in results["guest"]})
    labels = [f"{iters}" + ("*" if interp else "") for interp, iters in groups]
    width = 0.8 / len(ENGINES)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    for k, engine in enumerate(ENGINES):
        xs, ys = [], []
        for g, (interp, iters) in enumerate(groups):
            row = _by(results, engine, iters)
            if row is not None:
                xs.append(g + k * width)
                ys.append(row["process_mips"])
        left.bar(xs, ys, width=width, label=engine, color=COLOURS[engine])
    left.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))], labels)
    left.set_yscale("log")
    left.set_ylabel("guest MIPS (log)")
    left.set_xlabel("bench iterations (* interpreter size)")
    left.set_title("bench guest throughput (whole process: start-up, load, compile, run)")
    left.legend(fontsize=8)
    names = [r["name"] + ("*" if "icount" in (r.get("qemu_mode") or "") else "") for r in results["micro"]]
    micro_engines = ("vmm-jit", "qemu", "unicorn", "vmm-interp")
    bar = 0.8 / len(micro_engines)
    for k, engine in enumerate(micro_engines):
        values = [r.get(f"{engine}_ns") or 0 for r in results["micro"]]
        right.bar([x + bar * k for x in range(len(names))], values, width=bar, label=engine,
                  color=COLOURS[engine])
    right.set_xticks([x + 0.4 - bar / 2 for x in range(len(names))], names, rotation=45, ha="right")
    right.set_yscale("log")
    right.set_ylabel("ns per iteration (log)")
    right.set_title("nanobenchmarks (* qemu with -icount: hlt skips to the timer)")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
