"""Run the workload set on vmm's engines and on the peers, side by side.

Every figure is measured in this run; ratios are computed from these measurements only.
Guest instruction counts come from vmm (the guest is deterministic, so a peer running the
same image executes the same instructions).  Each bench-guest row has two times, labelled:

  process_s  the whole process as a user runs it (`python3 -m vmm run`, qemu-system-i386,
             the native program, a Python running Unicorn): start-up, loading, run, exit;
             every engine has it, so ratios between engines use it
  run_s      the run alone, timed inside the process (Machine.run, Unicorn's emu_start);
             None for QEMU and native code, which do not report it

Each nanobenchmark row has ns per iteration on vmm's translator and interpreter (in-process
runs), Unicorn (in-process, where it can run the loop) and qemu-system-i386 (whole processes
of the nanobenchmark as a multiboot image, qemu_image; `qemu_mode` says how QEMU ran, or why
it has no figure).  The translator, Unicorn and QEMU each get their own n (`calibrated_n`),
so that their 2n iterations take about DIFF_S: a run's fixed costs (QEMU's start-up, vmm's
translation) vary by tens of milliseconds between runs, and a loop of a few nanoseconds an
iteration must run for long enough to stand out of that.

The vmm translator also runs in this process, for its translation figures.  Start-up is
measured on its own: `vmm run` and qemu-system-i386 on the hello guest (best of three).
`progress` is called with a line after each finished measurement.

Example:
    results = run_suite(sizes=(10, 100), micro_n=20_000, progress=print)
    results["guest"][0]["process_mips"], results["startup"]
"""

import functools
import io
import platform
import time

from ..machine import Machine
from . import peers
from .workloads import BENCH_IMAGE, HELLO_IMAGE, MICRO, ORIGIN

INTERP_SHARE = 0.01          # the interpreter runs this share of each nanobenchmark's count...
INTERP_MAX = 5_000           # ...and at most this many iterations
STARTUP_REPEAT = 3           # start-up: the fastest of this many runs counts
PAGING_REPEAT = 3            # paging off/on: the fastest of this many runs of each counts
DIFF_S = 0.4                 # an engine's n is set so its 2n iterations take about this long...
FULL_N = 200_000             # ...at --micro-n of this or more (proportionally less below)
CALIBRATE_S = 0.1            # finding that n: a run this much longer than one iteration's
MAX_N = 1 << 29              # 3n stays a positive ECX
# The nanobenchmarks QEMU runs with -icount: QEMU's PIT follows the host clock, so plain TCG
# would measure the PIT's period (84 us) waiting in hlt; with sleep=off hlt skips to the next
# timer deadline, as vmm's virtual clock does.  -icount slows TCG in general: only here.
QEMU_ICOUNT = {"timer_irq": " ".join(["TCG", *peers.ICOUNT])}


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
    row = {"engine": f"vmm-{engine}", "iters": iters, "run_s": seconds, "instructions": result.instructions,
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


def _vmm_micro_seconds(engine, work, n):
    return vmm_micro(engine, work.assemble(n))[0]


def _unicorn_micro_seconds(work, n):
    return peers.unicorn_micro(work.assemble(n))


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


PROCESSES = {"vmm-jit": lambda iters: peers.vmm_process("jit", iters), "qemu": peers.qemu_guest,
             "unicorn": peers.unicorn_process, "native": peers.native_guest}


def _mips(row):
    for time_key, mips_key in (("process_s", "process_mips"), ("run_s", "run_mips")):
        seconds = row.get(time_key)
        row[mips_key] = row["instructions"] / seconds / 1e6 if seconds else None
    return row


def _line(row):
    run = f", run {row['run_s']:.3f} s" if row.get("run_s") is not None else ""
    return (f"{row['engine']} iters={row['iters']}: process {row['process_s']:.3f} s{run}, "
            f"checksum {row['checksum']}")


def guest_rows(sizes, interp_iters, progress, missing):
    """The bench guest on every engine at every size (the interpreter at `interp_iters`)."""
    rows = []
    for iters in sizes:
        jit = vmm_guest("jit", iters)
        for engine, fn in PROCESSES.items():
            measured, why = _peer(fn, iters)
            if why:
                missing[engine] = why
                continue
            row = jit if engine == "vmm-jit" else {"engine": engine, "iters": iters,
                                                     "instructions": jit["instructions"]}
            row.update(measured, run_s=row.get("run_s", measured["run_s"]))
            rows.append(_mips(row))
            progress(_line(row))
    interp = peers.vmm_process("interp", interp_iters)
    rows.append(_mips({"engine": "vmm-interp", "iters": interp_iters, **interp}))
    progress(_line(rows[-1]))
    return rows


def startup_row():
    """Whole-process seconds of the hello guest on `vmm run` and on QEMU, fastest of a few."""
    runs = [peers.startup(HELLO_IMAGE) for _ in range(STARTUP_REPEAT)]
    best = {engine: min(run[engine] for run in runs) for engine in runs[0]}
    return best | {"image": HELLO_IMAGE.name, "vmm_over_qemu": best["vmm-jit"] / best["qemu"]}


def paging_row(iters, progress):
    """The bench guest with paging off and on (paging=1: identity-mapped 4 KiB pages, every
    access through the MMU) on vmm's translator and on QEMU, whole processes, the same run;
    vmm's in-process run time too, so start-up does not blur the software TLB's cost.  The
    two modes alternate PAGING_REPEAT times and each figure is the fastest of its runs (as
    timeit does: on a shared machine the slower ones measure the neighbours)."""
    row = {"iters": iters, "qemu_off": None, "qemu_on": None}
    never = float("inf")
    for _ in range(PAGING_REPEAT):
        for paging, options in (("off", ""), ("on", " paging=1")):
            vmm = peers.vmm_process("jit", iters, options=options)
            if vmm["run_s"] < row.get(f"vmm_run_{paging}", never):
                row[f"vmm_{paging}"], row[f"vmm_run_{paging}"] = vmm["process_s"], vmm["run_s"]
            row[f"checksum_{paging}"] = vmm["checksum"]
            measured, why = _peer(lambda n: peers.qemu_guest(n, options=options), iters)
            if not why and measured["process_s"] < (row[f"qemu_{paging}"] or never):
                row[f"qemu_{paging}"] = measured["process_s"]
    row["vmm_cost"] = row["vmm_run_on"] / row["vmm_run_off"] - 1
    row["qemu_cost"] = row["qemu_on"] / row["qemu_off"] - 1 if row["qemu_off"] else None
    progress(f"paging on: vmm run {row['vmm_run_on']:.3f} s vs off {row['vmm_run_off']:.3f} s "
             f"({row['vmm_cost']:+.1%})")
    return row


def calibrated_n(run, seconds, first=1000):
    """The n at which an engine's 2n iterations take about `seconds` (`run(n)`: seconds of a
    run of n iterations): n comes from the engine's own speed.  The count grows eightfold
    from `first` until its run takes clearly longer than a 1-iteration run."""
    base, k = run(1), first
    while True:
        extra = run(k) - base
        if extra > min(CALIBRATE_S, seconds) or k >= MAX_N // 8:
            break
        k *= 8
    return max(1, min(MAX_N, int(seconds * k / (2 * max(extra, 1e-6)))))


def calibrated_ns(run, seconds):
    """(ns per iteration, n) of `run` at its own calibrated n (`calibrated_n`)."""
    n = calibrated_n(run, seconds)
    return marginal_ns(run, n), n


def micro_seconds(micro_n):
    """The seconds 2n iterations of a nanobenchmark should take at --micro-n `micro_n`."""
    return DIFF_S * min(1.0, micro_n / FULL_N)


def qemu_micro_figure(name, work, micro_n):
    """(ns per iteration, n, how QEMU ran it) of nanobenchmark `work` on qemu-system-i386;
    a missing QEMU gives (None, None, why)."""
    icount = name in QEMU_ICOUNT
    run = functools.partial(peers.qemu_micro, work, icount=icount)
    try:
        return (*calibrated_ns(run, micro_seconds(micro_n)), QEMU_ICOUNT.get(name, "TCG"))
    except peers.Missing as missing:
        return None, None, f"no figure: {missing}"


def micro_rows(micro_n, progress):
    rows, seconds = [], micro_seconds(micro_n)
    for name, work in MICRO.items():
        jit_ns, n_jit = calibrated_ns(functools.partial(_vmm_micro_seconds, "jit", work), seconds)
        n_interp = max(1, min(INTERP_MAX, int(micro_n * work.share * INTERP_SHARE)))
        row = {"name": name, "rewrite": work.rewrite, "n": n_jit, "interp_n": n_interp, "vmm-jit_ns": jit_ns}
        row["vmm-interp_ns"] = marginal_ns(functools.partial(_vmm_micro_seconds, "interp", work), n_interp)
        if not work.unicorn:
            row["unicorn_ns"] = None          # Unicorn hands exceptions to hooks, not the guest IDT
        else:
            measured, _ = _peer(calibrated_ns, functools.partial(_unicorn_micro_seconds, work), seconds)
            row["unicorn_ns"] = None if measured is None else measured[0]
        row["qemu_ns"], row["qemu_n"], row["qemu_mode"] = qemu_micro_figure(name, work, micro_n)
        rows.append(row)
        qemu = "-" if row["qemu_ns"] is None else f"{row['qemu_ns']:.1f}"
        progress(f"nanobenchmark {name}: vmm-jit {row['vmm-jit_ns']:.1f}, qemu {qemu} ns per iteration")
    return rows


def run_suite(sizes=(2000, 20000, 100000), interp_iters=20, micro_n=200_000, progress=lambda msg: None):
    """Measure everything; returns a dict ready for the report (and JSON)."""
    missing = {}
    try:
        startup = startup_row()
        progress(f"start-up ({startup['image']}): vmm {startup['vmm-jit']:.3f} s, qemu {startup['qemu']:.3f} s")
    except peers.Missing as why:
        startup, missing["qemu"] = None, str(why)
    guest = guest_rows(sizes, interp_iters, progress, missing)
    paging = paging_row(max(sizes), progress)
    micro = micro_rows(micro_n, progress)
    return {"host": platform.platform(), "python": platform.python_version(), "startup": startup,
            "guest": guest, "paging": paging, "micro": micro, "missing": missing, "when": time.strftime("%Y-%m-%d %H:%M")}
