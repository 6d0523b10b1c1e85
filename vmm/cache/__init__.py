"""The translation cache (tcache.py) and its persistent form on disk (disk.py).

The size limits live here, where the command line can read them without importing the
cache itself:  `vmm run --tcache-size` defaults to DEFAULT_LIMIT blocks.
"""

DEFAULT_LIMIT = 1 << 15         # blocks of compiled code held (about 10 KiB of host memory each)
MAX_LIMIT = 1 << 20
