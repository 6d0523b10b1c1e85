"""Operands: Capstone's operand detail turned into three small classes, and how to access them.

`Reg`, `Imm` and `Mem` are built once per decoded instruction (the decoder
caches them); `read`, `write` and `address` turn them into builder calls, so
every semantic function shares one path to registers and memory (and every
memory access goes through the builder's one MMU entry point, `load`/`store`).
Every linear address is made by `linear`, which checks the access against its
segment first (vmm.x86.segaccess): callers say how wide and whether it writes.

Example:
    addr = address(b, i.ops[0], write=True)          # None for a register operand
    old = read(b, i.ops[0], addr)
    write(b, i.ops[0], b.add(old, b.const(1, w), w), addr)
"""

from capstone import CS_GRP_BRANCH_RELATIVE, x86_const as X

from .segaccess import check_access
from .state import EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI, ES, CS, SS, DS, FS, GS


class Reg:
    """A register operand: kind "gpr" (index, width, shift: AH is (0, 8, 8)), "seg", "cr", "dr" or "st"."""

    __slots__ = ("kind", "index", "w", "shift")

    def __init__(self, kind, index, w, shift=0):
        self.kind, self.index, self.w, self.shift = kind, index, w, shift

    def __repr__(self):
        return f"Reg({self.kind},{self.index},{self.w},{self.shift})"


class Imm:
    """An immediate, kept as Capstone gives it (possibly negative); masked when read."""

    __slots__ = ("kind", "value", "w")

    def __init__(self, value, w):
        self.kind, self.value, self.w = "imm", value, w

    def __repr__(self):
        return f"Imm({self.value:#x},{self.w})"


class Mem:
    """A memory operand: segment index, base/index GPR indices (or None), scale, disp, width."""

    __slots__ = ("kind", "seg", "base", "index", "scale", "disp", "w", "addr16")

    def __init__(self, seg, base, index, scale, disp, w, addr16):
        self.kind = "mem"
        self.seg, self.base, self.index, self.scale, self.disp = seg, base, index, scale, disp
        self.w, self.addr16 = w, addr16

    def __repr__(self):
        return f"Mem(seg={self.seg},base={self.base},index={self.index}*{self.scale}+{self.disp:#x},{self.w})"


def _gpr_map():
    table = {}
    for index, name in enumerate(("AX", "CX", "DX", "BX", "SP", "BP", "SI", "DI")):
        table[getattr(X, f"X86_REG_E{name}")] = Reg("gpr", index, 32)
        table[getattr(X, f"X86_REG_{name}")] = Reg("gpr", index, 16)
    for index, name in enumerate(("AL", "CL", "DL", "BL")):
        table[getattr(X, f"X86_REG_{name}")] = Reg("gpr", index, 8)
    for index, name in enumerate(("AH", "CH", "DH", "BH")):
        table[getattr(X, f"X86_REG_{name}")] = Reg("gpr", index, 8, 8)
    for index, name in enumerate(("ES", "CS", "SS", "DS", "FS", "GS")):
        table[getattr(X, f"X86_REG_{name}")] = Reg("seg", index, 16)
    for n in (0, 2, 3, 4):
        table[getattr(X, f"X86_REG_CR{n}")] = Reg("cr", n, 32)
    for n in range(8):
        table[getattr(X, f"X86_REG_DR{n}")] = Reg("dr", n, 32)
    for n in range(8):
        table[getattr(X, f"X86_REG_ST{n}")] = Reg("st", n, 80)       # ST(n), for x87 forms
    return table


REGISTERS = _gpr_map()
SEGMENTS = {X.X86_REG_ES: ES, X.X86_REG_CS: CS, X.X86_REG_SS: SS,
            X.X86_REG_DS: DS, X.X86_REG_FS: FS, X.X86_REG_GS: GS}


class Unsupported(Exception):
    """An operand vmm does not model (MMX/SSE/debug registers): the instruction is #UD."""


def convert(cs_insn, addr16):
    """Capstone operands of one instruction -> tuple of Reg/Imm/Mem."""
    ops = []
    for op in cs_insn.operands:
        if op.type == X.X86_OP_REG:
            reg = REGISTERS.get(op.reg)
            if reg is None:
                raise Unsupported(cs_insn.reg_name(op.reg))
            ops.append(reg)
        elif op.type == X.X86_OP_IMM:
            ops.append(Imm(op.imm, op.size * 8))
        else:
            m = op.mem
            base = REGISTERS[m.base].index if m.base else None
            index = REGISTERS[m.index].index if m.index else None
            if m.segment:
                seg = SEGMENTS[m.segment]
            else:
                seg = SS if base in (ESP, EBP) else DS
            ops.append(Mem(seg, base, index, m.scale, m.disp, op.size * 8, addr16))
    for op in ops:                       # Capstone reports some immediates with size 0
        if op.kind == "imm" and op.w == 0:
            op.w = ops[0].w if ops[0].kind != "imm" else 8
    if cs_insn.prefix[2] == 0x66 and cs_insn.group(CS_GRP_BRANCH_RELATIVE):
        for op in ops:                   # a 16-bit IP: Capstone's target is right only modulo 64K
            op.value &= 0xFFFF
    return tuple(ops)


# ---- access through a builder -------------------------------------------------------------
def effective_address(b, m):
    """The offset part of a memory operand (32-bit b-value), before the segment base."""
    aw = 16 if m.addr16 else 32
    parts = []
    if m.base is not None:
        parts.append(b.zext(b.reg(m.base, aw, 0), aw, 32) if aw == 16 else b.reg(m.base, 32, 0))
    if m.index is not None:
        idx = b.zext(b.reg(m.index, aw, 0), aw, 32) if aw == 16 else b.reg(m.index, 32, 0)
        parts.append(b.shl(idx, b.const(m.scale.bit_length() - 1, 32), 32) if m.scale != 1 else idx)
    if m.disp or not parts:
        parts.append(b.const(m.disp & 0xFFFFFFFF, 32))
    addr = parts[0]
    for part in parts[1:]:
        addr = b.add(addr, part, 32)
    if aw == 16:
        addr = b.and_(addr, b.const(0xFFFF, 32), 32)
    return addr


def linear(b, seg, offset, w, write=False):
    """Segment base + offset: the linear address a w-bit read (or `write`) at `offset`
    through segment register `seg` goes to, once the access passed the segment's checks
    (vmm.x86.segaccess: #GP(0) or #SS(0) before anything else happens)."""
    check_access(b, seg, offset, w, write)
    address = b.add(b.seg_base(seg), offset, 32)
    if write:
        b.will_write(address)
    return address


def address(b, op, write=False, w=None):
    """The linear address of a memory operand, or None for registers and immediates,
    checked for a read (or `write`) of op.w bits, or `w` where Capstone's operand size is
    not what the instruction accesses (far pointers, descriptor-table images, x87 images).
    An operand that is read and written is checked once, as a write."""
    if op.kind != "mem":
        return None
    return linear(b, op.seg, effective_address(b, op), w or op.w, write)


def read(b, op, addr=None, w=None):
    """The value of an operand (width op.w unless `w` is given for immediates)."""
    kind = op.kind
    if kind == "gpr":
        return b.reg(op.index, op.w, op.shift)
    if kind == "imm":
        width = w or op.w
        return b.const(op.value & ((1 << width) - 1), width)
    if kind == "mem":
        return b.load(address(b, op) if addr is None else addr, op.w)
    if kind == "seg":
        return b.field(f"seg{op.index}.selector")
    raise Unsupported(kind)


def write(b, op, value, addr=None):
    """Store `value` (width op.w) into a register or memory operand."""
    kind = op.kind
    if kind == "gpr":
        b.set_reg(op.index, value, op.w, op.shift)
    elif kind == "mem":
        b.store(address(b, op, write=True) if addr is None else addr, value, op.w)
    else:
        raise Unsupported(kind)
