"""One instruction from Capstone's C API, read straight from its structures.

Capstone's Python `Cs.disasm` builds a `CsInsn` and, on first access to any detail, copies
the whole x86 detail into Python objects (`get_arch_info`: every field, every operand):
about 12 us an instruction, most of a cold boot's decoding time (a Linux boot decodes some
170,000 distinct instructions).  vmm reads a dozen of those fields, so this module calls
`cs_disasm_iter` into a preallocated `cs_insn` (one per thread), copies it and its detail
out in one piece each, and unpacks just those fields at the offsets of the binding's own
ctypes structures (the C layout): about 4 us.  `RawInsn` has the attributes
vmm.x86.operands.convert and vmm.x86.table.lookup use, spelled as on `CsInsn`.

Example:
    decoder = RawDecoder(Cs(CS_ARCH_X86, CS_MODE_32))      # detail is switched on here
    insn = decoder.decode(b"\\x66\\x01\\xd8", 0x1000)
    insn.mnemonic, insn.op_str, insn.prefix[2], insn.operands[0].reg   # ('add', 'ax, bx', 0x66, ...)
"""

import ctypes
import struct
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
        self._local = threading.local()     # a cs_insn per thread (`_buffer`): ctypes calls drop the GIL

    def _buffer(self):
        """This thread's (cs_insn pointer, its address, size and address in-out arguments)."""
        buffer = getattr(self._local, "buffer", None)
        if buffer is None:
            insn = _lib.cs_malloc(self.handle)
            if not insn:
                raise MemoryError("cs_malloc failed")
            size, address = ctypes.c_size_t(), ctypes.c_uint64()
            buffer = self._local.buffer = (insn, ctypes.cast(insn, ctypes.c_void_p).value, size, ctypes.byref(size),
                                           address, ctypes.byref(address))
        return buffer

    def decode(self, raw, address):
        """The first instruction of `raw` at EIP `address`, or None if it is no instruction."""
        insn, insn_address, size, size_ref, start, start_ref = self._buffer()
        size.value, start.value = len(raw), address
        if not _lib.cs_disasm_iter(self.handle, ctypes.byref(ctypes.c_char_p(raw)), size_ref, start_ref, insn):
            return None
        head = ctypes.string_at(insn_address, _INSN_SIZE)
        detail = ctypes.string_at(_POINTER.unpack_from(head, _DETAIL)[0], _DETAIL_SIZE)
        out = RawInsn()
        out.id, out.size = _U32.unpack_from(head, _ID)[0], _U16.unpack_from(head, _LENGTH)[0]
        out.mnemonic = head[_MNEMONIC:head.index(0, _MNEMONIC)].decode()
        out.op_str = head[_OP_STR:head.index(0, _OP_STR)].decode()
        out.bytes = head[_BYTES:_BYTES + out.size]
        out.prefix = detail[_X86:_X86 + 4]
        out.opcode = detail[_X86 + 4:_X86 + 8]
        out.modrm = detail[_X86 + _MODRM]
        out.groups = detail[_GROUPS:_GROUPS + detail[_GROUPS_COUNT]]
        out.reg_name = self.cs.reg_name
        out.operands = [_operand(detail, _OPERANDS + k * _OP_SIZE) for k in range(detail[_X86 + _OP_COUNT])]
        return out


# Where the fields are, from the binding's own ctypes structures (the C layout).
_INSN = capstone._cs_insn
_INSN_SIZE, _ID, _LENGTH, _BYTES = ctypes.sizeof(_INSN), _INSN.id.offset, _INSN.size.offset, _INSN.bytes.offset
_MNEMONIC, _OP_STR, _DETAIL = _INSN.mnemonic.offset, _INSN.op_str.offset, _INSN.detail.offset
_DETAIL_SIZE = ctypes.sizeof(capstone._cs_detail)
_GROUPS, _GROUPS_COUNT = capstone._cs_detail.groups.offset, capstone._cs_detail.groups_count.offset
_X86 = capstone._cs_detail.arch.offset
_MODRM, _OP_COUNT = X.CsX86.modrm.offset, X.CsX86.op_count.offset
_OPERANDS, _OP_SIZE = _X86 + X.CsX86.operands.offset, ctypes.sizeof(X.X86Op)
_TYPE, _VALUE, _SIZE = X.X86Op.type.offset, X.X86Op.value.offset, X.X86Op.size.offset
_U16, _U32, _I64, _POINTER = struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<q"), struct.Struct("<Q")
_MEM = struct.Struct("<IIIiq")        # x86_op_mem: segment, base, index, scale, disp


def _operand(detail, at):
    op = RawOp()
    op.type, op.size = _U32.unpack_from(detail, at + _TYPE)[0], detail[at + _SIZE]
    if op.type == X.X86_OP_REG:
        op.reg = _U32.unpack_from(detail, at + _VALUE)[0]
    elif op.type == X.X86_OP_IMM:
        op.imm = _I64.unpack_from(detail, at + _VALUE)[0]
    else:
        op.mem = RawMem()
        op.mem.segment, op.mem.base, op.mem.index, op.mem.scale, op.mem.disp = _MEM.unpack_from(detail, at + _VALUE)
    return op
