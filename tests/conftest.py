"""Session-wide test settings: vmm's on-disk caches go to a temporary directory, not the
user's ~/.cache (tests that check the cache set their own)."""

import os
import tempfile

os.environ.setdefault("VMM_CACHE_DIR", tempfile.mkdtemp(prefix="vmm-test-cache-"))
