"""The translation cache (tcache.py) and its persistent form on disk (disk.py).

The limits live here, where the command line can read them without importing the cache
itself:  `vmm run --tcache-size` defaults to DEFAULT_LIMIT blocks, `--jit-threshold` (runs
of a block in the interpreter before it is translated) to JIT_THRESHOLD.
"""

DEFAULT_LIMIT = 1 << 17         # blocks of compiled code held: a Linux boot runs some 50,000 distinct ones
MAX_LIMIT = 1 << 20
# In a Linux boot 85% of some 95,000 blocks reached run 50 times or fewer, and a tier-0
# translation (about 1 ms) costs as much as some 70 interpreted runs of a block.
JIT_THRESHOLD = 16
MAX_JIT_THRESHOLD = 1 << 20
# Runs after which a tier-0 block is recompiled at tier 2 (optimised, chained, loops in
# registers).  A boot has thousands of blocks past a few thousand runs whose tier-2 compiles
# compete with tier-0 ones for LLVM (one call at a time): a Debian boot reached its shell in
# 84 s with 2,000, 71 s with 50,000 (benchmarks/linux_boot.py); a benchmark's inner loops
# pass 50,000 runs within milliseconds.
TIER2_THRESHOLD = 50_000
