"""Random bytes as guest code: every engine must end the same way, with the same state, and
the host must never crash (every outcome is a RunResult, never a Python exception)."""

from hypothesis import given, settings, strategies as st

import pytest

from vmm.lockstep import lockstep, snapshot

from tests.asmguest import new_machine

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


@settings(max_examples=40, deadline=None)
@given(code=st.binary(min_size=1, max_size=48))
def test_random_code_never_crashes_the_host(code):
    for engine in ("jit", "jit-tier2", "interp"):
        m = _machine(engine, code)
        result = m.run(max_insns=300)
        assert result.reason in ("limit", "halt", "error", "exit"), result
        assert snapshot(m)["eip"] <= 0xFFFFFFFF
