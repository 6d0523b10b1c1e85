"""pytest-benchmark suite: `python3 -m pytest benchmarks -p no:xdist --benchmark-only`.

The benchmarks/ folder is outside the default test path (tests/), so the test suite never
times anything; ratios are read from one benchmark run (`--benchmark-compare` or the
report script benchmarks/report.py)."""
