"""Tier-2 compilation off the guest's thread: hot blocks are recompiled with LLVM's
optimisation passes while the guest keeps running their tier-0 code, as HotSpot and V8
compile in the background.  LLVM (like the guest's native code) runs without the GIL, so
on a machine with two cores the optimising compile costs the guest almost nothing.

llvmlite runs one LLVM call at a time (a process-wide lock in its binding layer), so
the overlap is between LLVM and the guest's native code or the monitor's Python, and
a tier-0 compile may wait for the worker's call in progress: jobs are kept small.

Guest-visible behaviour does not depend on when code is installed: both tiers compute the
same results and stop at the same block boundaries, so a run is the same run whichever
tier executes each block.

One worker thread serves every machine of the process (a ThreadPoolExecutor, which
also waits for a compile in progress when Python exits).  What it may touch is fixed:
a Jit's tier-2 LLVM context, target machine and execution engine are used by the
worker only once a job for that Jit has been submitted; the monitor installs the
compiled code (Translator._install_tier2) on its own thread, between dispatcher calls,
when no translated code is running.  `Translator.drain()` waits for every job.

Example:
    job = submit(jit, module_text, ["b_1000_o2"], {"vmm.ram": base})
    job.result()        # ({"b_1000_o2": host address}, library, seconds), once the worker is done
"""

import time
from concurrent.futures import ThreadPoolExecutor

_executor = None


def submit(jit, module_text, names, symbols, permanent=False):
    """Compile `module_text` at tier 2 on the worker and link it with `symbols` (the
    addresses are found on the monitor's thread): a Future of ({name: host address},
    library, seconds the compile took)."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vmm-tier2")
    return _executor.submit(_compile, jit, module_text, names, symbols, permanent)


def _compile(jit, module_text, names, symbols, permanent):
    start = time.perf_counter()
    addresses, library, _ = jit.compile(module_text, names, tier=2, symbols=symbols, permanent=permanent)
    return addresses, library, time.perf_counter() - start
