"""Random instruction sequences, straight and as counted loops, on every engine against
Unicorn.  Single-instruction tests cannot see what crosses instructions: lazy flags read
several instructions later, registers kept in SSA across a block, a tier-2 loop carrying
state round its back edge, jcc inside a block.  Here hypothesis composes them."""

import pytest
from hypothesis import given, settings, strategies as st

from .differential import check

DST = ("eax", "ebx", "edx")                        # ecx counts loops; esi, edi, ebp point at data
SRC = ("eax", "ebx", "ecx", "edx", "esi", "edi")
BYTE = ("al", "bl", "dl", "ah", "bh", "dh")
CONDITIONS = ("a", "ae", "b", "be", "e", "ne", "g", "ge", "l", "le", "o", "no", "s", "ns", "p", "np")

_reg = st.sampled_from(DST)
_src = st.sampled_from(SRC)
_imm = st.one_of(st.integers(-128, 127), st.sampled_from([0x7FFFFFFF, -0x80000000, 0xFF, 0x8000]))
_off = st.integers(0, 31).map(lambda k: 4 * k)
_cc = st.sampled_from(CONDITIONS)
_alu = st.sampled_from(("add", "sub", "adc", "sbb", "and", "or", "xor", "cmp", "test"))
_shift = st.sampled_from(("shl", "shr", "sar", "rol", "ror", "rcl", "rcr"))

INSTRUCTION = st.one_of(
    st.builds("{} {}, {}".format, _alu, _reg, _src),
    st.builds("{} {}, {}".format, _alu, _reg, _imm),
    st.builds("{} {}, dword ptr [esi + {}]".format, _alu, _reg, _off),
    st.builds("{} dword ptr [edi + {}], {}".format, st.sampled_from(("add", "sub", "xor", "adc")), _off, _reg),
    st.builds("{} {}".format, st.sampled_from(("inc", "dec", "neg", "not")), _reg),
    st.builds("{} {}, {}".format, _shift, _reg, st.integers(0, 31)),
    st.builds("{} {}, cl".format, _shift, _reg),
    st.builds("imul {}, {}".format, _reg, _src),
    st.builds("imul {}, {}, {}".format, _reg, _src, _imm),
    st.builds("set{} {}".format, _cc, st.sampled_from(BYTE)),
    st.builds("cmov{} {}, {}".format, _cc, _reg, _src),
    st.builds("mov {}, dword ptr [esi + {}]".format, _reg, _off),
    st.builds("mov dword ptr [edi + {}], {}".format, _off, _reg),
    st.builds("movzx {}, {}".format, _reg, st.sampled_from(BYTE)),
    st.builds("lea {}, [{} + {}*4 + {}]".format, _reg, _src, _src, _imm),
    st.builds("xchg {}, {}".format, _reg, _reg),
    st.builds("bswap {}".format, _reg),
    st.builds("push {}\npop {}".format, _src, _reg),
    st.sampled_from(("clc", "stc", "cmc", "lahf", "sahf", "cdq", "cwde")),
    st.sampled_from(("daa", "das", "aaa", "aas", "aam", "aad 7", "salc")),    # read AF/CF, write AL
)


def _with_branches(instructions, draw):
    """Some instructions become `jcc` over the next one (a block boundary in the middle)."""
    lines = []
    for k, insn in enumerate(instructions):
        if k + 1 < len(instructions) and draw(st.integers(0, 5)) == 0:
            lines.append(f"j{draw(_cc)} skip{k}\n{insn}\nskip{k}:")
        else:
            lines.append(insn)
    return "\n".join(lines)


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_straight_sequences(engine, data):
    body = _with_branches(data.draw(st.lists(INSTRUCTION, min_size=2, max_size=12), label="body"), data.draw)
    check(engine, body, data)


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_counted_loops(engine, data):
    body = data.draw(st.lists(INSTRUCTION, min_size=1, max_size=8), label="body")
    if data.draw(st.booleans(), label="branchy"):
        body = _with_branches(body, data.draw).split("\n")
    count = data.draw(st.integers(1, 40), label="passes")
    check(engine, "\n".join([f"mov ecx, {count}", "top:", *body, "dec ecx", "jnz top"]), data)


# A flag read by the first instruction of a block, recorded by the last flag-setter of the
# block before: the translator speculates on some ops (inline) and calls a helper for others.
WRITERS = ("add eax, ebx", "sub eax, ebx", "test eax, ebx", "inc eax", "dec eax", "shl eax, 3",
           "imul eax, ebx", "adc eax, ebx", "neg eax", "add al, bl")
READERS = ("adc edx, ecx", "sbb edx, ecx", "rcl edx, 1", "setc dl", "seto dl", "sets dl", "setp dl",
           "cmovbe edx, ecx", "pushfd\npop edx", "lahf", "daa", "aas", "salc")


EDGES = st.sampled_from([0, 1, 0xF, 0x10, 0x7F, 0x80, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFF0])


@pytest.mark.parametrize("writer", WRITERS)
@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_flags_read_in_the_next_block(engine, writer, data):
    for reader in READERS:
        check(engine, f"{writer}\njmp next\nnext:\n{reader}", data, regs={"eax": EDGES, "ebx": EDGES})
