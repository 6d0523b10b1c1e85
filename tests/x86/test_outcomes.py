"""Operands chosen so that every outcome is reached, on every engine, against Unicorn: each
jcc, setcc and cmovcc both taken and not taken (after cmp, and across a block boundary after
cmp, test and add, where the translator speculates on the op), 8-bit div and idiv that divide
rather than raise #DE, and bswap on arbitrary values.  Random operands alone left outcomes
unreached (after `test ebx, ecx` the sign flag was never set)."""

import pytest
from hypothesis import given, settings, strategies as st

from .differential import check, u32
from .oracle import POINTERS, STACK_TOP, assemble, assert_same, run_unicorn, run_vmm

CONDITIONS = ("a", "ae", "b", "be", "e", "g", "ge", "l", "le", "ne", "no", "np", "ns", "o", "p", "s")
M = 0xFFFFFFFF
# Operand pairs rich enough to give every flag combination the three ops can produce.
PAIRS = [(a, b) for a in (0, 1, 2, 3, 0x7F, 0x80, 0x7FFFFFFF, 0x80000000, 0x80000001, 0xFFFFFFFF, 0xC0000003)
         for b in (0, 1, 2, 3, 0x7F, 0x80, 0x7FFFFFFF, 0x80000000, 0x80000001, 0xFFFFFFFF, 0xC0000003)]


def flags_after(op, a, b):
    """(CF, ZF, SF, OF, PF) after `op ebx, ecx` with ebx=a, ecx=b (Intel SDM)."""
    if op == "cmp":
        r = (a - b) & M
        cf, of = a < b, ((a ^ b) & (a ^ r)) >> 31
    elif op == "add":
        r = (a + b) & M
        cf, of = a + b > M, (~(a ^ b) & (a ^ r) & M) >> 31
    else:
        r = a & b
        cf = of = 0
    return bool(cf), r == 0, bool(r >> 31), bool(of), bin(r & 0xFF).count("1") % 2 == 0


def holds(cc, flags):
    cf, zf, sf, of, pf = flags
    base = {"a": not cf and not zf, "b": cf, "e": zf, "g": not zf and sf == of, "l": sf != of,
            "o": of, "p": pf, "s": sf}
    if cc in base:
        return base[cc]
    if cc in ("ae", "ge", "le", "be"):
        return {"ae": not cf, "ge": sf == of, "le": zf or sf != of, "be": cf or zf}[cc]
    return not base[cc[1:]]                      # ne, no, np, ns


def operands(op, cc, taken):
    """An (ebx, ecx) pair that makes `cc` come out `taken` after `op`, or None if no
    operands can (after test, CF and OF are always clear)."""
    return next(((a, b) for a, b in PAIRS if holds(cc, flags_after(op, a, b)) == taken), None)


TAIL = "\nmov eax, 1\njmp done\nt: mov eax, 2\ndone: nop"
FORMS = {
    "jcc": ("{op} ebx, ecx\nj{cc} t" + TAIL, lambda regs, taken: regs["eax"] == (2 if taken else 1)),
    "jcc-across-blocks": ("{op} ebx, ecx\njmp n\nn: j{cc} t" + TAIL, lambda regs, taken: regs["eax"] == (2 if taken else 1)),
    "setcc": ("{op} ebx, ecx\nset{cc} al", lambda regs, taken: regs["eax"] & 0xFF == taken),
    "cmovcc": ("mov eax, 5\nmov edx, 7\n{op} ebx, ecx\ncmov{cc} eax, edx", lambda regs, taken: regs["eax"] == (7 if taken else 5)),
}
CASES = [(form, op, cc, taken) for form in FORMS for op in ("cmp", "test", "add") for cc in CONDITIONS
         for taken in (True, False) if (op == "cmp" or form != "jcc") and operands(op, cc, taken) is not None]


def _regs(**fixed):
    regs = {"eax": 0x1234, "ecx": 0, "edx": 0, "ebx": 0, "esp": STACK_TOP, **POINTERS}
    regs.update(fixed)
    return regs


@pytest.mark.parametrize("form, op, cc, taken", CASES)
def test_every_condition_both_ways(engine, form, op, cc, taken):
    template, outcome = FORMS[form]
    asm = template.format(op=op, cc=cc)
    a, b = operands(op, cc, taken)
    regs = _regs(ebx=a, ecx=b)
    code = assemble(asm)
    ours = run_vmm(engine, code, regs, 0x2, bytes(0x2000))
    assert_same(asm, run_unicorn(code, regs, 0x2, bytes(0x2000)), ours, regs)
    assert outcome(ours.regs, taken), f"{asm!r} with ebx={a:#x} ecx={b:#x}: not {'taken' if taken else 'not taken'}"


def test_only_the_impossible_outcomes_are_left_out():
    missing = {(op, cc, taken) for op in ("cmp", "test", "add") for cc in CONDITIONS for taken in (True, False)
               if operands(op, cc, taken) is None}
    # After test (a logic op) CF = OF = 0: b, o taken and ae, no not taken cannot happen.
    assert missing == {("test", "b", True), ("test", "o", True), ("test", "ae", False), ("test", "no", False)}


@pytest.mark.parametrize("signed", [False, True])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_byte_division_divides(engine, signed, data):
    if signed:
        divisor = data.draw(st.integers(-128, 127).filter(bool), label="divisor")
        bound = 127 * abs(divisor)
        dividend = data.draw(st.integers(-bound, bound), label="dividend")     # |quotient| <= 127
    else:
        divisor = data.draw(st.integers(1, 255), label="divisor")
        dividend = data.draw(st.integers(0, 256 * divisor - 1), label="dividend")   # quotient < 256
    regs = _regs(eax=data.draw(u32, label="eax") & ~0xFFFF | dividend & 0xFFFF, ebx=divisor & 0xFF)
    asm = "idiv bl" if signed else "div bl"
    code = assemble(asm)
    ours = run_vmm(engine, code, regs, 0x2, bytes(0x2000))
    assert ours.fault is None
    assert_same(asm, run_unicorn(code, regs, 0x2, bytes(0x2000)), ours, regs)


@pytest.mark.parametrize("reg", ["eax", "ebx", "ecx", "edx", "esi", "edi", "ebp"])
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_bswap_on_arbitrary_values(engine, reg, data):
    check(engine, f"bswap {reg}", data, regs={reg: u32})

