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


# 0x67: SI, DI and CX instead of ESI, EDI and ECX (the upper halves stay, offsets wrap at
# 64K).  DI points below 64K, outside the compared regions, so the snippet saves the
# registers and copies that area into the data region (compared) afterwards.
A16_FORMS = ["movsb", "rep movsb", "rep movsw", "stosb", "rep stosd", "lodsb", "rep lodsw", "scasb",
             "repne scasb", "cmpsb", "repe cmpsb", "repe cmpsw"]
COPY_OUT = "\nmov edx, ecx\nmov ebp, esi\nmov ebx, edi\ncld\nmov esi, 0x1700\nmov edi, 0x11e00\nmov ecx, 128\nrep movsd dword ptr es:[edi], dword ptr [esi]"


def _high_and(lows):
    return st.builds(lambda high, low: (high << 16) | low, st.integers(0, 0xFFFF), st.sampled_from(lows))


@pytest.mark.parametrize("op", A16_FORMS)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_string_address_size_16(engine, op, data):
    reads_only = not op.split()[-1].startswith(("movs", "stos"))     # DI = 0x1000: the code is there
    check(engine, f".byte 0x67\n{op}{COPY_OUT}", data, df=True, regs={
        "esi": _high_and([0x1000, 0x0002, 0xFFFE]), "edi": _high_and([0x1800, 0x0001, 0xFFFF] + [0x1000] * reads_only),
        "ecx": _high_and(range(0, 40)), "eax": st.integers(0, 0xFFFFFFFF)})
