"""Run the workload set on vmm's engines and on the peers, side by side, in one process.

Every figure is measured in this run; ratios are computed from these measurements only.
Guest instruction counts come from vmm (the guest is deterministic, so a peer running the
same image executes the same instructions).

Example:
    results = run_suite(sizes=(10, 100), micro_n=20_000, progress=print)
    results["guest"][0]["mips"]
"""

import io
import platform
import time

from ..machine import Machine
from . import peers
from .workloads import BENCH_IMAGE, MICRO, ORIGIN

INTERP_SHARE = 0.01          # the interpreter runs this share of each nanobenchmark's count...
INTERP_MAX = 5_000           # ...and at most this many iterations


def _translator_figures(m, seconds):
    t = m.translator
    if t is None:
        return {}
    stats = t.stats()
    tiers = stats["translation"]
    blocks, hot = tiers[0]["blocks"], tiers[2]["blocks"]
    compile_s = tiers[0]["seconds"] + tiers[2]["seconds"]        # on the guest's thread
    background_s = tiers[2]["background_seconds"]                   # LLVM at tier 2, alongside
    return {
        "blocks_compiled": blocks,
        "blocks_tier2": hot,
        "compile_ms_per_block_tier0": 1e3 * tiers[0]["seconds"] / blocks if blocks else 0.0,
        "compile_ms_per_block_tier2": 1e3 * (tiers[2]["seconds"] + background_s) / hot if hot else 0.0,
        "compile_seconds": compile_s,
        "compile_background_seconds": background_s,
        "compile_share": compile_s / seconds if seconds else 0.0,
        "block_executions": stats["block_executions"],
        "python_reentries": stats["dispatcher_entries"],
        "monitor_steps": stats["exits"].get(3, 0),
        "cache_blocks": stats["blocks"],
    }


def vmm_guest(engine, iters, memory_mb=128):
    serial = io.BytesIO()
    m = Machine(memory_mb=memory_mb, engine=engine, serial=serial)
    m.load(str(BENCH_IMAGE), cmdline=f"iters={iters}")
    start = time.perf_counter()
    result = m.run()
    seconds = time.perf_counter() - start
    row = {"engine": f"vmm-{engine}", "iters": iters, "seconds": seconds, "instructions": result.instructions,
           "checksum": peers._checksum(serial.getvalue()), "exit": result.reason}
    row.update(_translator_figures(m, seconds))
    return row


def vmm_micro(engine, code):
    m = Machine(memory_mb=2, engine=engine)
    m.mem_write(ORIGIN, code)
    m.reg_write("eip", ORIGIN)
    start = time.perf_counter()
    result = m.run()
    return time.perf_counter() - start, result.instructions


def marginal_ns(run, n, repeat=3):
    """Nanoseconds per iteration from runs of n and 3n iterations: start-up and translation
    cost the same in both, so the difference is the steady-state cost of 2n iterations.
    Each size runs `repeat` times and its fastest run counts (as timeit does): on a shared
    machine the slower ones measure the neighbours."""
    def best(k):
        return min(run(k) for _ in range(repeat))
    return 1e9 * (best(3 * n) - best(n)) / (2 * n)


def _peer(fn, *args):
    try:
        return fn(*args), None
    except peers.Missing as missing:
        return None, str(missing)


def run_suite(sizes=(2000, 20000, 100000), interp_iters=20, micro_n=2_000_000, progress=lambda msg: None):
    """Measure everything; returns a dict ready for the report (and JSON)."""
    missing = {}
    guest = []
    for iters in sizes:
        progress(f"bench guest iters={iters}: vmm-jit")
        jit = vmm_guest("jit", iters)
        guest.append(jit)
        for name, fn in (("qemu", peers.qemu_guest), ("unicorn", peers.unicorn_guest), ("native", peers.native_guest)):
            progress(f"bench guest iters={iters}: {name}")
            measured, why = _peer(fn, iters)
            if why:
                missing[name] = why
                continue
            seconds, checksum = measured
            guest.append({"engine": name, "iters": iters, "seconds": seconds, "checksum": checksum,
                          "instructions": jit["instructions"]})
    progress(f"bench guest iters={interp_iters}: vmm-interp")
    guest.append(vmm_guest("interp", interp_iters))
    for row in guest:
        row["mips"] = row["instructions"] / row["seconds"] / 1e6 if row["seconds"] else 0.0
    micro = []
    for name, work in MICRO.items():
        progress(f"nanobenchmark {name}")
        n_jit = max(1, int(micro_n * work.share))
        n_interp = max(1, min(INTERP_MAX, int(n_jit * INTERP_SHARE)))
        row = {"name": name, "rewrite": work.rewrite, "n": n_jit}
        for engine, n in (("jit", n_jit), ("interp", n_interp)):
            row[f"vmm-{engine}_ns"] = marginal_ns(lambda k: vmm_micro(engine, work.assemble(k))[0], n)
        if name == "div0":
            row["unicorn_ns"] = None          # Unicorn hands exceptions to hooks, not the guest IDT
        else:
            measured, why = _peer(marginal_ns, lambda k: peers.unicorn_micro(work.assemble(k)), n_jit)
            row["unicorn_ns"] = measured
        micro.append(row)
    return {"host": platform.platform(), "python": platform.python_version(), "guest": guest,
            "micro": micro, "missing": missing, "when": time.strftime("%Y-%m-%d %H:%M")}
