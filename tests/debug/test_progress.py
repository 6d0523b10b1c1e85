"""`vmm run -v`: the progress line's rates over an interval."""

from vmm.debug.progress import line


def test_line_gives_rates_since_the_last_sample():
    jit = {"exits": 0, "compiled": 0, "loaded": 0}
    before = (10.0, 1_000_000, 100, 5, jit)
    now = (12.0, 101_000_000, 2_100, 405, {"exits": 2_100, "compiled": 300, "loaded": 40})
    assert line(before, now) == ("vmm: 50.0 MIPS, 1000 exits/s, 200 callouts/s, "
                                 "300 blocks compiled, 40 from cache")
