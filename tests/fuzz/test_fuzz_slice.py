"""CI's slice of the fuzz harness: a fixed seed, a fixed number of programs and images, so
it is reproducible (the long run: `python3 -m tests.fuzz --seconds 600 --seed N`).  Every
engine agrees with Unicorn except for the known, confirmed causes in known.py, and the
loader never raises anything but a VmmError."""

from tests.fuzz.run import fuzz


def test_fuzz_slice_finds_nothing_new():
    report = fuzz(seed=2026, programs=60, images=40)
    assert report.programs == 60 and report.images == 40 and report.loaded > 0
    assert not report.findings, report.describe()
