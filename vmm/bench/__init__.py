"""The benchmark harness: guest workloads on vmm's engines and on the peers users would pick
instead (qemu-system-i386 TCG, Unicorn from Python, native gcc -m32), side by side in one run,
each timed as a whole process and, where it can be, in-process (`vmm bench`).

Example:
    from vmm.bench.harness import run_suite
    results = run_suite(sizes=(10, 100), interp_iters=1, micro_n=20_000)
"""
