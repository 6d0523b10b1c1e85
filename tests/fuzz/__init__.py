"""The fuzz harness: random instruction streams on every engine against Unicorn, and malformed
images against the loader.  `python3 -m tests.fuzz --seconds 60 --seed 1` runs it; CI runs a
short seeded slice (test_fuzz_slice.py).  See programs.py, images.py and run.py."""
