"""Side-by-side timings of vmm's engines and the peers on the same workloads (pytest-benchmark).

Run: python3 -m pytest benchmarks -p no:xdist --benchmark-only --benchmark-group-by=param:workload
Start-up alone: python3 -m pytest benchmarks -p no:xdist --benchmark-only -k startup
Each benchmark also checks its result, so a fast wrong answer cannot pass as a benchmark.
"""

import pytest

from vmm.bench import peers
from vmm.bench.harness import vmm_guest, vmm_micro
from vmm.bench.workloads import HELLO_IMAGE, MICRO

ITERS = 200


@pytest.fixture(scope="module")
def expected_checksum():
    return vmm_guest("jit", ITERS)["checksum"]


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_bench_guest_vmm(benchmark, engine, expected_checksum):
    iters = ITERS if engine == "jit" else 5
    row = benchmark.pedantic(vmm_guest, args=(engine, iters), rounds=3 if engine == "jit" else 1, iterations=1)
    benchmark.extra_info.update({k: v for k, v in row.items() if isinstance(v, (int, float, str))})
    if engine == "jit":
        assert row["checksum"] == expected_checksum


@pytest.mark.parametrize("peer", ["vmm-jit", "vmm-interp", "qemu", "unicorn", "native"])
def test_bench_guest_process(benchmark, peer, expected_checksum):
    """Whole processes, as a user runs them: start-up, loading, the run and exit."""
    fn = {"vmm-jit": lambda iters: peers.vmm_process("jit", iters),
          "vmm-interp": lambda iters: peers.vmm_process("interp", iters),
          "qemu": peers.qemu_guest, "unicorn": peers.unicorn_process, "native": peers.native_guest}[peer]
    iters = 5 if peer == "vmm-interp" else ITERS
    try:
        measured = benchmark.pedantic(fn, args=(iters,), rounds=3 if peer != "vmm-interp" else 1, iterations=1)
    except peers.Missing as missing:
        pytest.fail(f"peer {peer} is missing: {missing}")
    benchmark.extra_info.update({k: v for k, v in measured.items() if v is not None})
    if peer != "vmm-interp":
        assert measured["checksum"] == expected_checksum


@pytest.mark.parametrize("engine", ["vmm-jit", "qemu"])
def test_startup(benchmark, engine):
    """Start-up side by side: the hello guest as a whole process under `vmm run` and QEMU."""
    def once():
        return peers.startup(HELLO_IMAGE, engines=(engine,))[engine]
    try:
        benchmark.pedantic(once, rounds=5, iterations=1)
    except peers.Missing as missing:
        pytest.fail(f"peer {engine} is missing: {missing}")


@pytest.mark.parametrize("workload", sorted(MICRO))
@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_nanobenchmark(benchmark, workload, engine):
    n = 100_000 if engine == "jit" else 2_000
    code = MICRO[workload].assemble(n)
    seconds, instructions = benchmark.pedantic(vmm_micro, args=(engine, code), rounds=3, iterations=1)
    benchmark.extra_info["ns_per_iteration"] = 1e9 * seconds / n
    assert instructions >= 2 * n
