"""The benchmark harness produces every figure from one run, the peers agree on the checksum,
every engine has a whole-process time, and the report writes tables that fit 100 columns, the
JSON and the chart (no timing is asserted)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from vmm.bench.harness import QEMU_ICOUNT, run_suite
from vmm.bench.workloads import MICRO
from vmm.bench.report import COLOURS, marginal, print_report, ratios, write_chart, write_json

ROOT = Path(__file__).resolve().parents[2]


def test_small_suite_end_to_end(tmp_path):
    lines = []
    results = run_suite(sizes=(3,), interp_iters=1, micro_n=2000, progress=lines.append)
    assert results["missing"] == {}, results["missing"]
    by_engine = {r["engine"]: r for r in results["guest"]}
    assert set(by_engine) == {"vmm-jit", "vmm-interp", "qemu", "unicorn", "native"}
    checksums = {by_engine[e]["checksum"] for e in ("vmm-jit", "qemu", "unicorn", "native")}
    assert len(checksums) == 1 and None not in checksums
    assert all(r["process_s"] > 0 and r["process_mips"] > 0 for r in results["guest"])
    assert by_engine["qemu"]["run_s"] is None and by_engine["unicorn"]["run_s"] < by_engine["unicorn"]["process_s"]
    jit = by_engine["vmm-jit"]
    assert jit["run_s"] < jit["process_s"]                 # the process adds start-up and loading
    assert jit["instructions"] > 50_000 and jit["blocks_compiled"] > 10
    assert jit["block_executions"] > jit["python_reentries"]
    assert results["startup"]["vmm-jit"] > 0 and results["startup"]["qemu"] > 0
    assert len(lines) == 1 + 4 + 1 + 1 + len(MICRO)         # start-up, 4 engines x 1 size, interp, paging, nanos
    paging = results["paging"]
    assert paging["checksum_on"] == paging["checksum_off"] == by_engine["qemu"]["checksum"]
    assert paging["qemu_on"] > 0 and paging["vmm_run_on"] > 0
    assert {m["name"] for m in results["micro"]} == set(MICRO)
    assert all((m["unicorn_ns"] is None) == (not MICRO[m["name"]].unicorn) for m in results["micro"])
    assert all(m["qemu_ns"] is not None and m["qemu_n"] >= 1 for m in results["micro"])
    assert {m["name"]: m["qemu_mode"] for m in results["micro"]} == {name: QEMU_ICOUNT.get(name, "TCG") for name in MICRO}
    row = ratios(results)[0]
    assert row["speedup_vs_interp"] > 0 and row["vs_native"] is not None
    console = Console(record=True, width=100)
    print_report(results, console)
    text = console.export_text()
    assert "start-up" in text and "bench guest" in text and "nanobenchmarks" in text
    assert max(map(len, text.splitlines())) <= 100
    write_json(results, tmp_path / "r.json")
    write_chart(results, tmp_path / "r.png")
    assert json.loads((tmp_path / "r.json").read_text())["ratios"][0]["iters"] == 3
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_marginal_cancels_fixed_costs():
    """Two sizes per engine: the fixed cost (start-up, translation) drops out of the figure."""
    def run(engine, iters, seconds):
        return {"engine": engine, "iters": iters, "instructions": iters * 1000, "process_s": seconds}
    results = {"guest": [run("vmm-jit", 10, 0.5), run("vmm-jit", 1010, 1.5),       # 1e6 insns/s
                         run("qemu", 10, 0.2), run("qemu", 1010, 2.2),             # 0.5e6 insns/s
                         run("vmm-interp", 1, 3.0)]}                               # one size: no row
    rows = {r["engine"]: r for r in marginal(results)}
    assert set(rows) == {"vmm-jit", "qemu"}
    assert abs(rows["vmm-jit"]["mips"] - 1.0) < 1e-9 and abs(rows["qemu"]["mips"] - 0.5) < 1e-9
    assert abs(rows["qemu"]["vmm_jit_ratio"] - 2.0) < 1e-9


def test_chart_colours_one_per_engine():
    assert len(set(COLOURS.values())) == len(COLOURS) == 5


def test_bench_command_writes_into_out_dir_with_progress_lines(tmp_path):
    """Not a terminal: a progress line per finished run on stderr; files go to --out-dir."""
    out = tmp_path / "results"
    done = subprocess.run([sys.executable, "-m", "vmm", "bench", "--sizes", "2", "--interp-iters", "1",
                           "--micro-n", "500", "--out-dir", str(out)], capture_output=True, timeout=300, cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["bench-results.json", "bench-results.png"]
    assert not list(tmp_path.glob("bench-results.*"))
    progress = [line for line in done.stderr.decode().splitlines() if line.startswith("vmm bench: ")]
    assert any("vmm-jit iters=2: process" in line for line in progress) and len(progress) >= 10
    assert max(map(len, done.stdout.decode().splitlines())) <= 100


def _canned_results():
    def row(engine, iters, process_s, run_s):
        return {"engine": engine, "iters": iters, "instructions": 1_000_000 * iters, "process_s": process_s,
                "run_s": run_s, "process_mips": iters / process_s, "run_mips": run_s and iters / run_s,
                "checksum": "0x1"}
    return {"startup": None, "missing": {}, "micro": [],
            "guest": [row("vmm-jit", 10, 2.0, 1.0), row("qemu", 10, 1.0, None), row("vmm-interp", 1, 5.0, 4.0)]}


def test_without_matplotlib_tables_and_json_are_written(tmp_path, monkeypatch, capsys):
    """The chart is the bench extra's: without matplotlib, one line says how to get it."""
    from vmm.bench import command
    monkeypatch.setitem(sys.modules, "matplotlib", None)          # import matplotlib -> ImportError
    monkeypatch.setattr(command, "run_suite", lambda *args, **kwargs: _canned_results())
    assert command.bench((10,), 1, 100, tmp_path) == 0
    captured = capsys.readouterr()
    assert "no chart: the chart needs matplotlib: pip install 'vmm[bench]'" in captured.err
    assert (tmp_path / "bench-results.json").exists() and not (tmp_path / "bench-results.png").exists()
    assert "vs qemu" in captured.out


@pytest.mark.parametrize("engine", ("jit", "interp"))
@pytest.mark.parametrize("name", [n for n, w in MICRO.items() if not w.unicorn])
def test_system_nanobenchmarks_loop_as_written(name, engine):
    """Each full-system nanobenchmark runs its loop n times and halts with IF clear: the
    instruction count grows by the body's length per iteration (a broken IDT, TSS or page
    table would stop it early through #GP's halt, with the same count for any n)."""
    from vmm.machine import Machine
    counts = []
    for n in (10, 20):
        m = Machine(memory_mb=2, engine=engine)
        m.mem_write(0x1000, MICRO[name].assemble(n))
        m.reg_write("eip", 0x1000)
        result = m.run(max_insns=200_000)
        assert (result.reason, result.message) == ("halt", "hlt with interrupts disabled"), result
        counts.append(result.instructions)
    per_iteration = (counts[1] - counts[0]) / 10
    assert per_iteration >= MICRO[name].body.count("\n") + 2          # body, dec, jnz (+ handlers)


def test_calibrated_n_sizes_the_difference_by_the_engines_speed():
    """An engine's n comes from its own cost per iteration: a process of 80 ms start-up and
    1 us per iteration gives the n whose 2n iterations take the seconds asked for."""
    from vmm.bench.harness import calibrated_n
    runs = []

    def run(k):
        runs.append(k)
        return 0.08 + k * 1e-6
    n = calibrated_n(run, 0.4)
    assert abs(2 * n * 1e-6 - 0.4) < 0.001
    assert runs == [1, 1000, 8000, 64000, 512000]          # grown eightfold until clearly longer


def test_missing_qemu_gives_no_figure_and_says_why(monkeypatch):
    from vmm.bench import harness, peers
    monkeypatch.setattr(peers.shutil, "which", lambda name: None)
    assert harness.qemu_micro_figure("callret", MICRO["callret"], 1000) == (
        None, None, "no figure: qemu-system-i386 not found: apt-get install qemu-system-x86")
