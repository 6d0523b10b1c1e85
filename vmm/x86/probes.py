"""lar, lsl, verr, verw: questions about a selector, answered in ZF without faulting.

Each looks the selector up (GDT or LDT) and sets ZF=1 only if the descriptor
is of a kind the instruction accepts and the current CPL and the selector's
RPL may see it (DPL >= CPL and DPL >= RPL, except conforming code for
lar/lsl/verr); a null selector or one outside its table gives ZF=0 and no
fault (SDM vol. 2; QEMU helper_lar/lsl/verr/verw).
  lar   code/data, or system types 1-5, 9, B, C: dest <- access rights
        (descriptor high dword & 0x00F0FF00, 16-bit dest: & 0xFF00)
  lsl   code/data, or system types 1, 2, 3, 9, B: dest <- limit in bytes
  verr  a data segment or readable code segment
  verw  a writable data segment (conforming code is no exception here)
Only the register operand is written, and only when ZF is set.

Example:
    lar(machine, b, insn)     # insn = "lar eax, ecx"
"""

from .descriptors import lookup
from .operands import read, write
from .protection import current_cpl

LAR_SYSTEM_TYPES = frozenset((1, 2, 3, 4, 5, 9, 0xB, 0xC))
LSL_SYSTEM_TYPES = frozenset((1, 2, 3, 9, 0xB))


def _visible(m, selector, accept, conforming_ok=True):
    """The descriptor if `accept(d)` and the privilege rule holds, else None."""
    if selector & 0xFFFC == 0:
        return None
    d = lookup(m, selector)
    if d is None or not accept(d):
        return None
    if not (conforming_ok and d.conforming) and (d.dpl < current_cpl(m) or d.dpl < (selector & 3)):
        return None
    return d


def _answer(b, d, dst=None, value=None):
    b.set_flag("ZF", b.const(int(d is not None), 1))
    if d is not None and dst is not None:
        write(b, dst, value & ((1 << dst.w) - 1))


def lar(m, b, i):
    dst, src = i.ops
    d = _visible(m, read(b, src) & 0xFFFF, lambda d: not d.is_system or d.type in LAR_SYSTEM_TYPES)
    _answer(b, d, dst, d and (d.raw >> 32) & 0x00F0FF00)


def lsl(m, b, i):
    dst, src = i.ops
    d = _visible(m, read(b, src) & 0xFFFF, lambda d: not d.is_system or d.type in LSL_SYSTEM_TYPES)
    _answer(b, d, dst, d and d.limit)


def verr(m, b, i):
    _answer(b, _visible(m, read(b, i.ops[0]) & 0xFFFF, lambda d: d.readable))


def verw(m, b, i):
    _answer(b, _visible(m, read(b, i.ops[0]) & 0xFFFF, lambda d: d.writable, conforming_ok=False))
