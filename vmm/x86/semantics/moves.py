"""Data movement: mov, movzx/movsx, lea, xchg, bswap, xlat, cbw/cwde/cwd/cdq, cmovcc, setcc, nop.

Example:
    moves.movzx(b, insn)      # insn = "movzx eax, byte ptr [ebx]"
"""

from ..flags import cond
from ..operands import address, read, write, effective_address, linear
from ..state import EAX, EBX, EDX, ES, CS, SS, DS, FS, GS

_SEGMENT_PREFIXES = {0x26: ES, 0x2E: CS, 0x36: SS, 0x3E: DS, 0x64: FS, 0x65: GS}


def mov(b, i):
    dst, src = i.ops
    value = read(b, src)
    if src.kind == "seg":                     # mov r/m, sreg: the selector, zero-extended
        value = b.trunc(value, 32, dst.w) if dst.w < 32 else value
    write(b, dst, value)


def movzx(b, i):
    dst, src = i.ops
    write(b, dst, b.zext(read(b, src), src.w, dst.w))


def movsx(b, i):
    dst, src = i.ops
    write(b, dst, b.sext(read(b, src), src.w, dst.w))


def lea(b, i):
    dst, src = i.ops
    offset = effective_address(b, src)
    write(b, dst, b.trunc(offset, 32, dst.w) if dst.w < 32 else offset)


def xchg(b, i):
    first, second = i.ops
    if first.kind != "mem" and second.kind == "mem":
        first, second = second, first
    addr = address(b, first, write=True)
    a, c = read(b, first, addr), read(b, second)
    write(b, first, c, addr)                  # memory (if any) first: precise faults
    write(b, second, a)


def bswap(b, i):
    op = i.ops[0]
    if op.w == 16:        # 0x66: undefined in the SDM; QEMU (so Unicorn) clears the low word
        write(b, op, b.const(0, 16))
    else:
        write(b, op, b.bswap(read(b, op), 32))


def xlat(b, i):
    al = b.reg(EAX, 8, 0)
    offset = b.add(b.reg(EBX, 32, 0), b.zext(al, 8, 32), 32)
    if i.addr16:                              # 0x67: the table is at DS:BX, the sum wraps at 64K
        offset = b.and_(offset, b.const(0xFFFF, 32), 32)
    seg = DS
    for byte in i.raw[:-1]:                   # Capstone gives xlat no operand: read the prefixes
        seg = _SEGMENT_PREFIXES.get(byte, seg)
    b.set_reg(EAX, b.load(linear(b, seg, offset, 8), 8), 8, 0)


def cbw(b, i):        # also cwde (32-bit form): sign-extend the lower half of the accumulator
    half = i.w // 2
    b.set_reg(EAX, b.sext(b.reg(EAX, half, 0), half, i.w), i.w, 0)


def cwd(b, i):        # also cdq: fill DX/EDX with the accumulator's sign
    w = i.w
    b.set_reg(EDX, b.ashr(b.reg(EAX, w, 0), b.const(w - 1, w), w), w, 0)


def cmovcc(b, i):
    dst, src = i.ops
    value = read(b, src)                      # the source is read (and may fault) even if false
    write(b, dst, b.select(cond(b, i.spec.cc), value, read(b, dst), dst.w))


def setcc(b, i):
    write(b, i.ops[0], b.zext(cond(b, i.spec.cc), 1, 8))


def nop(b, i):
    pass
