"""The benchmark report script: the same as `vmm bench` (table, JSON, PNG), for a checkout.

    python3 benchmarks/report.py [--sizes 200,2000] [--json out.json] [--chart out.png]
"""

import sys

from vmm.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
