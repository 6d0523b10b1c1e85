"""Decimal (BCD) adjustment: daa das aaa aas aam aad.

The manual leaves some flags undefined; vmm gives the values QEMU (hence
Unicorn, the test oracle) gives:
  daa/das    CF AF from the adjustment, SF ZF PF from the new AL, OF = 0
  aaa/aas    CF = AF = adjusted?; OF SF ZF PF keep their old values
  aam/aad    SF ZF PF from the new AL, CF = AF = OF = 0 (a LOGIC op on AL)
aam with base 0 raises #DE before anything is written.

Example:
    bcd.daa(b, insn)          # after "add al, bl" on packed BCD digits
"""

from .. import flags as F
from ..exceptions import DE
from ..state import AF, ARITH_FLAGS_MASK, CF, EAX


def _low_nibble_above_9(b, al):
    return b.ult(b.const(9, 8), b.and_(al, b.const(0x0F, 8), 8), 8)


def _carry_and_aux(b, carry, aux):
    """CF and AF (1-bit values) at their EFLAGS positions, as a 32-bit word."""
    return b.or_(b.zext(carry, 1, 32), b.shl(b.zext(aux, 1, 32), b.const(AF, 32), 32), 32)


def _decimal_adjust(b, step):
    """daa (step +1) / das (step -1): correct AL after a packed-BCD add or subtract."""
    al, cf = b.reg(EAX, 8, 0), b.flag("CF")
    aux = b.or_(_low_nibble_above_9(b, al), b.flag("AF"), 1)
    high = b.or_(b.ult(b.const(0x99, 8), al, 8), cf, 1)
    fixed = b.select(aux, b.add(al, b.const(6 * step, 8), 8), al, 8)
    result = b.select(high, b.add(fixed, b.const(0x60 * step, 8), 8), fixed, 8)
    carry = high
    if step < 0:                                   # das: borrowing 6 out of AL < 6 also carries
        carry = b.or_(high, b.and_(aux, b.ult(al, b.const(6, 8), 8), 1), 1)
    b.set_reg(EAX, result, 8, 0)
    zero = b.const(0, 8)
    word = b.or_(F.compute_all(b, F.LOGIC, 8, result, zero, zero), _carry_and_aux(b, carry, aux), 32)
    b.set_eflags(word, ARITH_FLAGS_MASK)


def daa(b, i):
    _decimal_adjust(b, 1)


def das(b, i):
    _decimal_adjust(b, -1)


def _ascii_adjust(b, step):
    """aaa (step +1) / aas (step -1): correct AL, carry into AH, after an unpacked-BCD op."""
    ax = b.reg(EAX, 16, 0)
    al = b.trunc(ax, 16, 8)
    adjust = b.or_(_low_nibble_above_9(b, al), b.flag("AF"), 1)
    adjusted = b.add(ax, b.const(0x106 * step & 0xFFFF, 16), 16)      # AL +- 6, AH +- 1 (+- carry)
    ax = b.select(adjust, adjusted, ax, 16)
    b.set_reg(EAX, b.and_(ax, b.const(0xFF0F, 16), 16), 16, 0)
    b.set_eflags(_carry_and_aux(b, adjust, adjust), (1 << CF) | (1 << AF))


def aaa(b, i):
    _ascii_adjust(b, 1)


def aas(b, i):
    _ascii_adjust(b, -1)


def aam(b, i):
    """AH <- AL / base, AL <- AL % base (base = imm8, 10 for the plain mnemonic)."""
    base = i.ops[0].value & 0xFF
    if base == 0:
        b.raise_if(b.const(1, 1), DE)
    al, divisor = b.reg(EAX, 8, 0), b.const(base or 1, 8)
    low = b.urem(al, divisor, 8)
    b.set_reg(EAX, b.udiv(al, divisor, 8), 8, 8)
    b.set_reg(EAX, low, 8, 0)
    b.set_cc(F.LOGIC, 8, low)


def aad(b, i):
    """AL <- AH * base + AL, AH <- 0."""
    base = i.ops[0].value & 0xFF
    al = b.add(b.mul(b.reg(EAX, 8, 8), b.const(base, 8), 8), b.reg(EAX, 8, 0), 8)
    b.set_reg(EAX, b.zext(al, 8, 16), 16, 0)
    b.set_cc(F.LOGIC, 8, al)
