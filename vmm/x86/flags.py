"""Lazy condition codes: how CF PF AF ZF SF OF follow from the last flag-setting operation.

A flag-setting instruction records (op, width, dst, src, src2) instead of
computing six bits (QEMU's CCOp); a reader computes only the flag it needs.
The formulas here are written once against the abstract builder, so the
interpreter evaluates them on ints and the LLVM builder emits them as IR that
dead-code elimination prunes.  Where the manual leaves a flag undefined, the
formula is the one QEMU (hence Unicorn) uses, so the differential tests have
one answer to compare with.

cc_op encoding: `(op << 2) | width_index`, width_index 0/1/2 for 8/16/32 bits;
`CC_EFLAGS` (0) means the flags already sit in `eflags`.

Operand conventions per op (dst is always the result):
    ADD/SUB/LOGIC/MUL  src = second operand (MUL: nonzero means CF=OF=1)
    ADC/SBB            src = second operand, src2 = carry in
    INC/DEC            src = CF before the instruction (they keep it)
    SHL/SAR            src = the value shifted by (count - 1)

Example:
    b.set_cc(SUB, 32, result, rhs)
    cond(b, "b")        # CF of that subtraction, as b-values
"""

from .state import FLAG_BITS, ARITH_FLAGS_MASK

CC_EFLAGS, ADD, ADC, SUB, SBB, LOGIC, INC, DEC, SHL, SAR, MUL = range(11)
OP_NAMES = ("EFLAGS", "ADD", "ADC", "SUB", "SBB", "LOGIC", "INC", "DEC", "SHL", "SAR", "MUL")
ARITH_FLAGS = ("CF", "PF", "AF", "ZF", "SF", "OF")

_WIDTH_INDEX = {8: 0, 16: 1, 32: 2}
WIDTHS = (8, 16, 32)


def encode(op, width):
    """The cc_op word stored in CpuState for (op, width)."""
    return CC_EFLAGS if op == CC_EFLAGS else (op << 2) | _WIDTH_INDEX[width]


def decode(cc_op):
    """(op, width) for a stored cc_op word."""
    return cc_op >> 2, WIDTHS[cc_op & 3]


def sign(b, x, w):
    """The top bit of a w-bit value, as a 1-bit value."""
    return b.trunc(b.lshr(x, b.const(w - 1, w), w), w, 1)


def bit(b, x, n, w):
    """Bit n of a w-bit value, as a 1-bit value."""
    return b.trunc(b.lshr(x, b.const(n, w), w), w, 1)


def _first_operand(b, op, w, dst, src, src2):
    """Recover the first operand of an add/sub family op from its result."""
    if op == ADD:
        return b.sub(dst, src, w)
    if op == ADC:
        return b.sub(b.sub(dst, src, w), src2, w)
    if op == SUB:
        return b.add(dst, src, w)
    if op == SBB:
        return b.add(b.add(dst, src, w), src2, w)
    if op == INC:
        return b.sub(dst, b.const(1, w), w)
    return b.add(dst, b.const(1, w), w)          # DEC


def _carry(b, op, w, dst, src, src2):
    if op in (LOGIC,):
        return b.const(0, 1)
    if op in (INC, DEC):
        return b.trunc(src, w, 1)
    if op == SHL:
        return sign(b, src, w)
    if op == SAR:
        return b.trunc(src, w, 1)
    if op == MUL:
        return b.ne(src, b.const(0, w), w)
    src1 = _first_operand(b, op, w, dst, src, src2)
    if op == ADD:
        return b.ult(dst, src1, w)
    if op == SUB:
        return b.ult(src1, src, w)
    carry_in = b.ne(src2, b.const(0, w), w)
    if op == ADC:
        return b.select(carry_in, b.ule(dst, src1, w), b.ult(dst, src1, w), 1)
    return b.select(carry_in, b.ule(src1, src, w), b.ult(src1, src, w), 1)     # SBB


def _aux(b, op, w, dst, src, src2):
    if op in (LOGIC, SHL, SAR, MUL):
        return b.const(0, 1)
    src1 = _first_operand(b, op, w, dst, src, src2)
    other = b.const(1, w) if op in (INC, DEC) else src
    return bit(b, b.xor(b.xor(dst, src1, w), other, w), 4, w)


def _overflow(b, op, w, dst, src, src2):
    if op == LOGIC:
        return b.const(0, 1)
    if op == MUL:
        return b.ne(src, b.const(0, w), w)
    if op in (SHL, SAR):
        return sign(b, b.xor(src, dst, w), w)
    top = 1 << (w - 1)
    if op == INC:
        return b.eq(dst, b.const(top, w), w)
    if op == DEC:
        return b.eq(dst, b.const(top - 1, w), w)
    src1 = _first_operand(b, op, w, dst, src, src2)
    if op in (ADD, ADC):
        same_sign_in = b.not_(b.xor(src1, src, w), w)
    else:
        same_sign_in = b.xor(src1, src, w)
    return sign(b, b.and_(same_sign_in, b.xor(src1, dst, w), w), w)


def _parity(b, op, w, dst, src, src2):
    low = b.and_(dst, b.const(0xFF, w), w)
    return b.eq(b.and_(b.ctpop(low, w), b.const(1, w), w), b.const(0, w), w)


def _zero(b, op, w, dst, src, src2):
    return b.eq(dst, b.const(0, w), w)


def _sign(b, op, w, dst, src, src2):
    return sign(b, dst, w)


_COMPUTE = {"CF": _carry, "PF": _parity, "AF": _aux, "ZF": _zero, "SF": _sign, "OF": _overflow}


def compute(b, name, op, w, dst, src, src2):
    """One arithmetic flag (1-bit b-value) of a lazily recorded operation."""
    return _COMPUTE[name](b, op, w, dst, src, src2)


def compute_all(b, op, w, dst, src, src2):
    """The six arithmetic flags of a recorded operation, packed at their EFLAGS bits (32-bit)."""
    word = b.const(0, 32)
    for name in ARITH_FLAGS:
        value = b.zext(compute(b, name, op, w, dst, src, src2), 1, 32)
        word = b.or_(word, b.shl(value, b.const(FLAG_BITS[name], 32), 32), 32)
    return word


def merge_flags(b, eflags, arith):
    """EFLAGS with its arithmetic bits replaced by `arith` (both 32-bit b-values)."""
    kept = b.and_(eflags, b.const(~ARITH_FLAGS_MASK & 0xFFFFFFFF, 32), 32)
    return b.or_(kept, arith, 32)


def cond(b, cc):
    """The x86 condition `cc` (Intel suffix: "e", "nz", "ge"...) as a 1-bit b-value.
    Flags recorded before the code the builder sees (cc_get() is None) are the builder's
    business: `b.cond_dynamic(cc)`, which may speculate on the recording op."""
    if b.cc_get() is None:
        return b.cond_dynamic(cc)
    return evaluate(b, cc)


def evaluate(b, cc):
    """`cond`, from the flags as the builder gives them (flag() per flag)."""
    base, negate = _ALIASES.get(cc, (cc, False))
    value = _CONDITIONS[base](b)
    return b.xor(value, b.const(1, 1), 1) if negate else value


def _ne(b, x, y):
    return b.xor(x, y, 1)


_CONDITIONS = {
    "o": lambda b: b.flag("OF"),
    "b": lambda b: b.flag("CF"),
    "e": lambda b: b.flag("ZF"),
    "be": lambda b: b.or_(b.flag("CF"), b.flag("ZF"), 1),
    "s": lambda b: b.flag("SF"),
    "p": lambda b: b.flag("PF"),
    "l": lambda b: _ne(b, b.flag("SF"), b.flag("OF")),
    "le": lambda b: b.or_(b.flag("ZF"), _ne(b, b.flag("SF"), b.flag("OF")), 1),
}

# Every other spelling -> (canonical condition, negated?).
_ALIASES = {
    "no": ("o", True), "c": ("b", False), "nae": ("b", False), "nb": ("b", True), "ae": ("b", True),
    "nc": ("b", True), "z": ("e", False), "ne": ("e", True), "nz": ("e", True), "na": ("be", False),
    "a": ("be", True), "nbe": ("be", True), "ns": ("s", True), "pe": ("p", False), "np": ("p", True),
    "po": ("p", True), "nge": ("l", False), "ge": ("l", True), "nl": ("l", True), "ng": ("le", False),
    "g": ("le", True), "nle": ("le", True),
}
