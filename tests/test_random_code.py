"""Random bytes as guest code: the translator agrees with the interpreter (in lockstep, and
at the end of a run: reason, count, state, memory), and the interpreter agrees with Unicorn
on random encodings of the forms vmm translates as-is."""

import random

from hypothesis import given, settings, strategies as st

import pytest

from vmm.lockstep import lockstep, snapshot

from tests.asmguest import ENGINE_VARIANTS, new_machine
from tests.fuzz.run import check_program

CODE = 0x1000


def _machine(engine, code):
    m = new_machine(engine, memory_mb=1)
    m.mem_write(CODE, code)
    m.reg_write("eip", CODE)
    m.reg_write("esp", 0x8000)
    for name, value in (("eax", 0x2000), ("ebx", 0x3000), ("esi", 0x4000), ("edi", 0x5000), ("ebp", 0x7000)):
        m.reg_write(name, value)
    return m


@pytest.mark.parametrize("jit", ["jit", "jit-tier2"])
@settings(max_examples=60, deadline=None)
@given(code=st.binary(min_size=1, max_size=48))
def test_random_code_same_on_both_engines(jit, code):
    report = lockstep(_machine(jit, code), _machine("interp", code), max_insns=300)
    assert not report.divergence, report.describe()


@settings(max_examples=15, deadline=None)          # a fresh jit per engine per example: slow
@given(code=st.binary(min_size=1, max_size=48))
def test_random_code_ends_the_same_way_on_every_engine(code):
    # Whatever the bytes do (fault, halt, loop, exit), every engine stops for the same
    # reason after the same instructions with the same state and memory; an exception
    # from the host would fail the test.
    outcomes = {}
    for engine in ENGINE_VARIANTS:
        m = _machine(engine, code)
        result = m.run(max_insns=300)
        outcomes[engine] = (result.reason, result.instructions, result.fault, snapshot(m), m.mem_read(0, 0x10000))
    assert outcomes["jit"] == outcomes["interp"] and outcomes["jit-tier2"] == outcomes["interp"]


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_random_encodings_match_unicorn_on_the_interpreter(seed):
    # Random bytes filtered to forms vmm translates as-is (tests/fuzz/programs.py), with
    # random registers, flags and data: the interpreter agrees with Unicorn except for the
    # known, confirmed causes (tests/fuzz/known.py).
    found = check_program(random.Random(seed), engines=("interp",), raw_share=1.0)
    assert found is None or found[0] is not None, found[1]
