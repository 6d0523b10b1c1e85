"""Differential tests (vs Unicorn) for vmm/x86/semantics/muldiv.py, on every engine, incl. #DE."""

import pytest
from hypothesis import given, settings, strategies as st

from .differential import check

MUL = [f"{op} {src}" for op in ("mul", "imul") for src in (
    "ecx", "bx", "dl", "bh", "dword ptr [esi]", "word ptr [edi]", "byte ptr [esi + 1]")]
IMUL = ["imul eax, ebx", "imul cx, dx", "imul eax, dword ptr [esi]", "imul eax, ebx, 7",
        "imul ecx, edx, -100000", "imul dx, word ptr [edi], 300", "imul ebx, ebx, 0x7fffffff"]
DIV = [f"{op} {src}" for op in ("div", "idiv") for src in (
    "ecx", "bx", "dl", "bh", "dword ptr [esi]", "word ptr [edi]", "byte ptr [esi + 1]")]


@pytest.mark.parametrize("asm", MUL + IMUL)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_multiply(engine, asm, data):
    check(engine, asm, data)


@pytest.mark.parametrize("asm", DIV)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_divide(engine, asm, data):
    """Small high halves make most quotients fit; the rest (and zero divisors) must give #DE."""
    small = st.one_of(st.integers(0, 3), st.just(0xFFFFFFFF), st.integers(0, 0xFFFFFFFF))
    check(engine, asm, data, regs={"edx": small})


@pytest.mark.parametrize("asm", ["div ecx", "idiv ecx", "div bl", "idiv bx"])
def test_divide_by_zero_is_de(engine, asm):
    from .oracle import assemble, run_unicorn, run_vmm, STACK_TOP, POINTERS
    regs = {"eax": 100, "ecx": 0, "edx": 0, "ebx": 0, "esp": STACK_TOP} | POINTERS
    code = assemble(asm)
    ours = run_vmm(engine, code, regs, 0x2, bytes(0x2000))
    theirs = run_unicorn(code, regs, 0x2, bytes(0x2000))
    assert ours.fault == theirs.fault == 0
    assert ours.regs["eip"] == 0x1000                # EIP stays on the faulting instruction


def test_idiv_most_negative_by_minus_one_is_de(engine):
    from .oracle import assemble, run_vmm, STACK_TOP, POINTERS
    regs = {"eax": 0, "edx": 0x80000000, "ecx": 0xFFFFFFFF, "ebx": 0, "esp": STACK_TOP} | POINTERS
    assert run_vmm(engine, assemble("idiv ecx"), regs, 0x2, bytes(0x2000)).fault == 0
