"""Side-by-side timings of vmm's engines and the peers on the same workloads (pytest-benchmark).

Run: python3 -m pytest benchmarks -p no:xdist --benchmark-only --benchmark-group-by=param:workload
Each benchmark also checks its result, so a fast wrong answer cannot pass as a benchmark.
"""

import pytest

from vmm.bench import peers
from vmm.bench.harness import vmm_guest, vmm_micro
from vmm.bench.workloads import MICRO

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


@pytest.mark.parametrize("peer", ["qemu", "unicorn", "native"])
def test_bench_guest_peer(benchmark, peer, expected_checksum):
    fn = {"qemu": peers.qemu_guest, "unicorn": peers.unicorn_guest, "native": peers.native_guest}[peer]
    try:
        seconds, checksum = benchmark.pedantic(fn, args=(ITERS,), rounds=3, iterations=1)
    except peers.Missing as missing:
        pytest.fail(f"peer {peer} is missing: {missing}")
    assert checksum == expected_checksum


@pytest.mark.parametrize("workload", sorted(MICRO))
@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_nanobenchmark(benchmark, workload, engine):
    n = 100_000 if engine == "jit" else 2_000
    code = MICRO[workload].assemble(n)
    seconds, instructions = benchmark.pedantic(vmm_micro, args=(engine, code), rounds=3, iterations=1)
    benchmark.extra_info["ns_per_iteration"] = 1e9 * seconds / n
    assert instructions >= 2 * n
