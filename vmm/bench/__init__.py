"""The benchmark harness: guest workloads on vmm's engines and on the peers users would pick
instead (qemu-system-i386 TCG, Unicorn from Python, native gcc -m32), side by side in one run.

Example:
    from vmm.bench.harness import run_suite
    results = run_suite(quick=True)
"""
