"""`python3 -m tests.fuzz --seconds 60 --seed 1`: fuzz for a time budget, print the report,
exit 1 if anything was found."""

import argparse
import sys

import lief

from .run import fuzz


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m tests.fuzz", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60, help="time budget (default 60)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args(argv)
    lief.logging.disable()                 # mutated ELFs make LIEF chatty
    report = fuzz(args.seed, seconds=args.seconds)
    print(report.describe())
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
