"""The benchmark report script: the same as `vmm bench` (tables, JSON, PNG), for a checkout.

    python3 benchmarks/report.py [--sizes 200,2000] [--out-dir benchmarks]
"""

import sys

from vmm.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
