"""Differential tests (vs Unicorn) for vmm/x86/semantics/string.py, with rep prefixes and DF."""

import pytest
from hypothesis import given, settings, strategies as st

from .differential import check

SINGLE = [f"{op}{size}" for op in ("movs", "cmps", "scas", "lods", "stos") for size in "bwd"]
REPEATED = [f"rep {op}{size}" for op in ("movs", "stos", "lods") for size in "bwd"]
REPEATED += [f"{prefix} {op}{size}" for prefix in ("repe", "repne") for op in ("cmps", "scas") for size in "bwd"]
# Keystone only accepts the explicit-operand spelling of the dword movs.
SINGLE = [f.replace("movsd", "movsd dword ptr es:[edi], dword ptr [esi]") for f in SINGLE]
REPEATED = [f.replace("movsd", "movsd dword ptr es:[edi], dword ptr [esi]") for f in REPEATED]
OVERRIDE = ["movsd dword ptr es:[edi], dword ptr ss:[esi]", "lodsb al, byte ptr ss:[esi]"]


@pytest.mark.parametrize("asm", SINGLE + REPEATED + OVERRIDE)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_string(engine, asm, data):
    check(engine, asm, data, df=True, regs={"ecx": st.integers(0, 40),
                                            "eax": st.one_of(st.integers(0, 3), st.integers(0, 0xFFFFFFFF))})


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_repe_cmpsb_on_equal_buffers(engine, data):
    """Equal buffers make repe run to the end of the count, which random data never does."""
    check(engine, "mov esi, edi\nrepe cmpsb", data, df=True, regs={"ecx": st.integers(0, 64)})
