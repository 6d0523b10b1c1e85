"""The benchmark report: a terminal table (rich), a JSON file and a PNG chart (matplotlib).

Ratios are computed here from one run's measurements: the translator against the
interpreter (by guest MIPS, as the interpreter runs a smaller size), against each peer at the
same size, and in steady state by the difference between sizes (`marginal`).

Example:
    results = run_suite(); print_report(results, Console()); write_json(results, "out.json")
"""

import json

from rich.markup import escape
from rich.table import Table


def _by(results, engine, iters):
    return next((r for r in results["guest"] if r["engine"] == engine and r["iters"] == iters), None)


def ratios(results):
    """Per size: jit MIPS, speedups and peer ratios (>1 means vmm is faster)."""
    out = []
    interp = next(r for r in results["guest"] if r["engine"] == "vmm-interp")
    for jit in (r for r in results["guest"] if r["engine"] == "vmm-jit"):
        steady_s = jit["seconds"] - jit["compile_seconds"]           # time spent running translated code
        row = {"iters": jit["iters"], "jit_mips": jit["mips"], "speedup_vs_interp": jit["mips"] / interp["mips"],
               "jit_steady_mips": jit["instructions"] / steady_s / 1e6}
        for peer in ("qemu", "unicorn", "native"):
            other = _by(results, peer, jit["iters"])
            row[f"vs_{peer}"] = other["seconds"] / jit["seconds"] if other else None
        out.append(row)
    return out


def marginal(results):
    """Steady state by difference: per engine run at two or more sizes, the guest MIPS of the
    extra instructions between its smallest and largest run.  Start-up, image loading and
    translation cost the same at both sizes, so they cancel, for vmm and its peers alike.
    Rows: engine, MIPS, and vmm-jit's ratio to it (>1: vmm faster)."""
    rows = {}
    for engine in dict.fromkeys(r["engine"] for r in results["guest"]):
        runs = sorted((r for r in results["guest"] if r["engine"] == engine), key=lambda r: r["iters"])
        if len(runs) < 2 or runs[-1]["seconds"] <= runs[0]["seconds"]:
            continue
        small, big = runs[0], runs[-1]
        rows[engine] = (big["instructions"] - small["instructions"]) / (big["seconds"] - small["seconds"]) / 1e6
    jit = rows.get("vmm-jit")
    return [{"engine": engine, "mips": mips, "vmm_jit_ratio": jit / mips if jit else None}
            for engine, mips in rows.items()]


def _blocks(row):
    return f"{row['blocks_compiled']} ({row['blocks_tier2']})" if "blocks_compiled" in row else "-"


def _fmt(value, spec="{:.2f}"):
    return "-" if value is None else spec.format(value)


def print_report(results, console):
    guest = Table(title="bench guest: wall time, guest MIPS, checksum")
    for column in ("engine", "iters", "instructions", "seconds", "MIPS", "checksum", "blocks (tier 2)",
                   "ms/block tier 0", "ms/block tier 2 (bg)", "compile share", "block runs / Python re-entries"):
        guest.add_column(column, justify="right")
    for r in results["guest"]:
        reentries = r.get("python_reentries")
        chain = f"{r['block_executions']} / {reentries}" if reentries is not None else "-"
        guest.add_row(r["engine"], str(r["iters"]), str(r["instructions"]), f"{r['seconds']:.3f}", f"{r['mips']:.1f}",
                      str(r.get("checksum")), _blocks(r), _fmt(r.get("compile_ms_per_block_tier0")),
                      _fmt(r.get("compile_ms_per_block_tier2")), _fmt(r.get("compile_share"), "{:.1%}"), chain)
    console.print(guest)
    table = Table(title="vmm translator ratios, wall clock (>1: vmm faster)")
    for column in ("iters", "jit MIPS", "jit MIPS excl. translation", "vs interp", "vs qemu", "vs unicorn",
                   "vs native"):
        table.add_column(column, justify="right")
    for r in ratios(results):
        table.add_row(str(r["iters"]), f"{r['jit_mips']:.1f}", f"{r['jit_steady_mips']:.1f}",
                      f"{r['speedup_vs_interp']:.0f}x",
                      _fmt(r["vs_qemu"]), _fmt(r["vs_unicorn"]), _fmt(r["vs_native"]))
    console.print(table)
    steady = Table(title="steady state by difference of sizes (largest minus smallest run): guest MIPS")
    for column in ("engine", "MIPS", "vmm-jit / engine"):
        steady.add_column(column, justify="right")
    for r in marginal(results):
        steady.add_row(r["engine"], f"{r['mips']:.1f}", _fmt(r["vmm_jit_ratio"]))
    console.print(steady)
    micro = Table(title="nanobenchmarks: ns per iteration (steady state: runs of 3n minus n)")
    for column in ("workload", "rewrite class", "vmm-jit", "vmm-interp", "unicorn"):
        micro.add_column(column, justify="right")
    for r in results["micro"]:
        micro.add_row(r["name"], r["rewrite"], _fmt(r["vmm-jit_ns"], "{:.1f}"), _fmt(r["vmm-interp_ns"], "{:.0f}"),
                      _fmt(r["unicorn_ns"], "{:.1f}"))
    console.print(micro)
    for peer, why in results["missing"].items():
        console.print(f"[yellow]peer {peer} missing:[/] {escape(why)}")


def write_json(results, path):
    with open(path, "w") as out:
        json.dump(results | {"ratios": ratios(results), "marginal": marginal(results)}, out, indent=2)


def write_chart(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    groups = sorted({(r["engine"] == "vmm-interp", r["iters"]) for r in results["guest"]})
    labels = [f"{iters}" + ("*" if interp else "") for interp, iters in groups]
    engines = ["vmm-jit", "qemu", "native", "unicorn", "vmm-interp"]
    width = 0.8 / len(engines)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    for k, engine in enumerate(engines):
        xs, ys = [], []
        for g, (interp, iters) in enumerate(groups):
            row = next((r for r in results["guest"] if r["engine"] == engine and r["iters"] == iters), None)
            if row is not None:
                xs.append(g + k * width)
                ys.append(row["mips"])
        left.bar(xs, ys, width=width, label=engine)
    left.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))], labels)
    left.set_yscale("log")
    left.set_ylabel("guest MIPS (log)")
    left.set_xlabel("bench iterations (* interpreter size)")
    left.set_title("bench guest throughput (wall time, incl. start-up and compile)")
    left.legend(fontsize=8)
    names = [r["name"] for r in results["micro"]]
    for k, column in enumerate(("vmm-jit_ns", "unicorn_ns", "vmm-interp_ns")):
        values = [r[column] or 0 for r in results["micro"]]
        right.bar([x + 0.27 * k for x in range(len(names))], values, width=0.27, label=column[:-3])
    right.set_xticks([x + 0.27 for x in range(len(names))], names)
    right.set_yscale("log")
    right.set_ylabel("ns per iteration (log)")
    right.set_title("nanobenchmarks")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
