"""Legacy integer instructions that 64-bit mode dropped: bound, arpl, salc.

bound checks a signed array index against a pair of bounds in memory and
raises #BR (a fault: EIP stays on the instruction) when it is outside.
arpl raises a selector's RPL to another's (ZF tells whether it did); vmm
guests run in protected mode, where arpl is defined.  salc (undocumented,
opcode 0xD6) sets AL to 0xFF when CF is set, else to 0; no flag changes.

Example:
    legacy.bound(b, insn)     # insn = "bound ecx, qword ptr [esi]"
"""

from ..exceptions import BR
from ..operands import address, read, write
from ..state import EAX


def bound(b, i):
    index, pair = i.ops
    w = index.w
    lower_at = address(b, pair, w=2 * w)                # both bounds
    lower = b.load(lower_at, w)
    upper = b.load(b.add(lower_at, b.const(w // 8, 32), 32), w)
    value = read(b, index)
    b.raise_if(b.or_(b.slt(value, lower, w), b.slt(upper, value, w), 1), BR)


def arpl(b, i):
    dst, src = i.ops
    addr = address(b, dst, write=True)
    selector, three = read(b, dst, addr), b.const(3, 16)
    wanted = b.and_(read(b, src), three, 16)
    raise_rpl = b.ult(b.and_(selector, three, 16), wanted, 16)
    raised = b.or_(b.and_(selector, b.const(0xFFFC, 16), 16), wanted, 16)
    write(b, dst, b.select(raise_rpl, raised, selector, 16), addr)    # written back either way
    b.set_flag("ZF", raise_rpl)


def salc(b, i):
    b.set_reg(EAX, b.sext(b.flag("CF"), 1, 8), 8, 0)
