"""Session-wide test settings: vmm's on-disk caches go to a temporary directory, not the
user's ~/.cache (tests that check the cache set their own)."""

import os
import tempfile

os.environ.setdefault("VMM_CACHE_DIR", tempfile.mkdtemp(prefix="vmm-test-cache-"))

# Instruction tests run each snippet a few times: the jit must translate it at its first run,
# or the "jit" engine would only interpret it (tests of the warm-up threshold set their own),
# and short test loops must reach tier 2 (the defaults are tuned for OS boots).
import vmm.cache  # noqa: E402

vmm.cache.JIT_THRESHOLD = 1
vmm.cache.TIER2_THRESHOLD = 2_000
