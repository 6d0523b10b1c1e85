"""One instruction from Capstone's C API, read straight from its structures.

Capstone's Python `Cs.disasm` builds a `CsInsn` and, on first access to any detail, copies
the whole x86 detail into Python objects (`get_arch_info`: every field, every operand):
about 12 us an instruction, most of a cold boot's decoding time (a Linux boot decodes some
170,000 distinct instructions).  vmm reads a dozen of those fields, so this module calls
`cs_disasm_iter` into a preallocated `cs_insn` (one per thread) and reads just them through
the binding's own ctypes structures: about 4 us.  `RawInsn` has the attributes
vmm.x86.operands.convert and vmm.x86.table.lookup use, spelled as on `CsInsn`.

Example:
    decoder = RawDecoder(Cs(CS_ARCH_X86, CS_MODE_32))      # detail is switched on here
    insn = decoder.decode(b"\\x66\\x01\\xd8", 0x1000)
    insn.mnemonic, insn.op_str, insn.prefix[2], insn.operands[0].reg   # ('add', 'ax, bx', 0x66, ...)
"""

import ctypes
import threading

import capstone
from capstone import x86 as X

_lib = capstone._cs
_lib.cs_malloc.restype = ctypes.POINTER(capstone._cs_insn)
_lib.cs_malloc.argtypes = [ctypes.c_size_t]
_lib.cs_disasm_iter.restype = ctypes.c_bool
_lib.cs_disasm_iter.argtypes = [ctypes.c_size_t, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_size_t),
                                ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(capstone._cs_insn)]


class RawMem:
    __slots__ = ("segment", "base", "index", "scale", "disp")


class RawOp:
    """One operand: `type` (X86_OP_REG/IMM/MEM), `reg`, `imm` or `mem`, and `size` in bytes."""
    __slots__ = ("type", "reg", "imm", "mem", "size")


class RawInsn:
    __slots__ = ("id", "size", "mnemonic", "op_str", "bytes", "prefix", "opcode", "modrm", "operands",
                 "groups", "reg_name")

    def group(self, group_id):
        return group_id in self.groups


class RawDecoder:
    """Decodes single instructions with the handle of `cs` (32-bit x86; detail switched on)."""

    def __init__(self, cs):
        cs.detail = True
        self.cs = cs
        self.handle = cs.csh
        self._local = threading.local()     # a cs_insn per thread: ctypes calls drop the GIL

    def _buffer(self):
        insn = getattr(self._local, "insn", None)
        if insn is None:
            insn = self._local.insn = _lib.cs_malloc(self.handle)
            if not insn:
                raise MemoryError("cs_malloc failed")
        return insn

    def decode(self, raw, address):
        """The first instruction of `raw` at EIP `address`, or None if it is no instruction."""
        pointer = self._buffer()
        code = ctypes.cast(ctypes.create_string_buffer(raw, len(raw)), ctypes.c_char_p)
        if not _lib.cs_disasm_iter(self.handle, ctypes.byref(code), ctypes.byref(ctypes.c_size_t(len(raw))),
                                   ctypes.byref(ctypes.c_uint64(address)), pointer):
            return None
        c = pointer.contents
        detail = c.detail.contents
        x = detail.arch.x86
        insn = RawInsn()
        insn.id, insn.size = c.id, c.size
        insn.mnemonic, insn.op_str = c.mnemonic.decode(), c.op_str.decode()
        insn.bytes = bytes(c.bytes)[:c.size]
        insn.prefix, insn.opcode, insn.modrm = bytes(x.prefix), bytes(x.opcode), x.modrm
        insn.groups = bytes(detail.groups)[:detail.groups_count]
        insn.reg_name = self.cs.reg_name
        insn.operands = [_operand(x.operands[k]) for k in range(x.op_count)]
        return insn


def _operand(o):
    op = RawOp()
    op.type, op.size = o.type, o.size
    if op.type == X.X86_OP_REG:
        op.reg = o.value.reg
    elif op.type == X.X86_OP_IMM:
        op.imm = o.value.imm
    else:
        m, op.mem = o.value.mem, RawMem()
        op.mem.segment, op.mem.base, op.mem.index, op.mem.scale, op.mem.disp = m.segment, m.base, m.index, m.scale, m.disp
    return op
