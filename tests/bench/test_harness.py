"""The benchmark harness produces every figure from one run, the peers agree on the checksum,
and the report writes its table, JSON and chart (no timing is asserted)."""

import json

from rich.console import Console

from vmm.bench.harness import run_suite
from vmm.bench.report import marginal, print_report, ratios, write_chart, write_json


def test_small_suite_end_to_end(tmp_path):
    results = run_suite(sizes=(3,), interp_iters=1, micro_n=2000)
    assert results["missing"] == {}, results["missing"]
    by_engine = {r["engine"]: r for r in results["guest"]}
    assert set(by_engine) == {"vmm-jit", "vmm-interp", "qemu", "unicorn", "native"}
    checksums = {by_engine[e]["checksum"] for e in ("vmm-jit", "qemu", "unicorn", "native")}
    assert len(checksums) == 1 and None not in checksums
    jit = by_engine["vmm-jit"]
    assert jit["instructions"] > 50_000 and jit["blocks_compiled"] > 10
    assert jit["block_executions"] > jit["python_reentries"]
    assert {m["name"] for m in results["micro"]} == {"callret", "cli_sti", "port_in", "div0", "smc_store"}
    row = ratios(results)[0]
    assert row["speedup_vs_interp"] > 0 and row["vs_native"] is not None
    console = Console(record=True, width=200)
    print_report(results, console)
    text = console.export_text()
    assert "bench guest" in text and "nanobenchmarks" in text
    write_json(results, tmp_path / "r.json")
    write_chart(results, tmp_path / "r.png")
    assert json.loads((tmp_path / "r.json").read_text())["ratios"][0]["iters"] == 3
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_marginal_cancels_fixed_costs():
    """Two sizes per engine: the fixed cost (start-up, translation) drops out of the figure."""
    def run(engine, iters, seconds):
        return {"engine": engine, "iters": iters, "instructions": iters * 1000, "seconds": seconds}
    results = {"guest": [run("vmm-jit", 10, 0.5), run("vmm-jit", 1010, 1.5),       # 1e6 insns/s
                         run("qemu", 10, 0.2), run("qemu", 1010, 2.2),             # 0.5e6 insns/s
                         run("vmm-interp", 1, 3.0)]}                               # one size: no row
    rows = {r["engine"]: r for r in marginal(results)}
    assert set(rows) == {"vmm-jit", "qemu"}
    assert abs(rows["vmm-jit"]["mips"] - 1.0) < 1e-9 and abs(rows["qemu"]["mips"] - 0.5) < 1e-9
    assert abs(rows["qemu"]["vmm_jit_ratio"] - 2.0) < 1e-9
