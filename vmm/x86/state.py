"""The guest CPU state: one ctypes structure shared by the interpreter and translated code.

Translated code receives a `CpuState*` and reads and writes these fields at
fixed offsets, so the layout is part of the engine ABI: fields are naturally
aligned 32-bit words (plus one 64-bit TSC), GPRs first so their offsets are
`4 * index`.  Arithmetic flags are lazy (QEMU CCOp): while `cc_op` is not
`CC_EFLAGS`, CF PF AF ZF SF OF are a function of (cc_op, cc_dst, cc_src,
cc_src2) and the same bits in `eflags` are stale; every other EFLAGS bit
(IF, DF, TF...) always lives in `eflags`.

Example:
    s = CpuState()
    s.gpr[EAX] = 5; s.eip = 0x100000
    CpuState.eip.offset      # -> 32, what the LLVM builder uses
"""

import ctypes

# General-purpose register indices, in the x86 encoding order.
EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI = range(8)
GPR_NAMES = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")

# Segment register indices, in the x86 encoding order (sreg field of ModRM).
ES, CS, SS, DS, FS, GS = range(6)
SEG_NAMES = ("es", "cs", "ss", "ds", "fs", "gs")

# EFLAGS bits.
CF, PF, AF, ZF, SF, TF, IF, DF, OF = 0, 2, 4, 6, 7, 8, 9, 10, 11
FLAG_BITS = {"CF": CF, "PF": PF, "AF": AF, "ZF": ZF, "SF": SF, "TF": TF, "IF": IF, "DF": DF, "OF": OF}
ARITH_FLAGS_MASK = (1 << CF) | (1 << PF) | (1 << AF) | (1 << ZF) | (1 << SF) | (1 << OF)   # 0x8D5
EFLAGS_FIXED = 0x2                      # bit 1 always reads as 1

# CR0 bits used by the monitor.
CR0_PE, CR0_ET, CR0_NE, CR0_PG = 1 << 0, 1 << 4, 1 << 5, 1 << 31


class Segment(ctypes.Structure):
    """A segment register with its hidden descriptor cache (base, limit, access rights)."""

    _fields_ = [
        ("selector", ctypes.c_uint32),
        ("base", ctypes.c_uint32),
        ("limit", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),     # descriptor bits 40-55 (type, S, DPL, P, AVL, L, D/B, G)
    ]


class TableRegister(ctypes.Structure):
    """GDTR / IDTR: a linear base and a 16-bit limit."""

    _fields_ = [("base", ctypes.c_uint32), ("limit", ctypes.c_uint32)]


class FpuState(ctypes.Structure):
    """The x87 FPU, held as the 108-byte image FNSAVE writes in 32-bit protected mode (Intel
    SDM vol. 1, figure 8-9): control, status (TOP in bits 11-13) and full tag word, the last
    instruction and data pointers, then ST(0)..ST(7) in stack order, 10 bytes each.
    The helpers of vmm.x86.fpu.native hand this image to the host's own FRSTOR, run the guest
    instruction on the host x87 and FNSAVE the result back, so the layout is theirs; `pending`
    holds a result image until the instruction's guest-memory stores are done, and `io` is the
    guest memory operand (or environment image) going to or coming from the host instruction.
    fninit values are set by `reset_fpu`."""

    _fields_ = [
        ("cw", ctypes.c_uint32),        # control word (fninit: 0x037F) in the low 16 bits
        ("sw", ctypes.c_uint32),        # status word, TOP in bits 11-13
        ("tw", ctypes.c_uint32),        # full 16-bit tag word, 2 bits per physical register
        ("fip", ctypes.c_uint32),
        ("fcs", ctypes.c_uint32),       # FCS in bits 0-15, the last opcode (11 bits) in 16-26
        ("fdp", ctypes.c_uint32),
        ("fds", ctypes.c_uint32),
        ("st", (ctypes.c_uint8 * 10) * 8),  # ST(i), not physical register i
        ("pad", ctypes.c_uint32),
        ("pending", ctypes.c_uint8 * 112),  # a result image waiting for its stores
        ("io", ctypes.c_uint8 * 112),       # the host instruction's memory operand
    ]


FPU_IMAGE_SIZE = 108


RESERVED = 0xFFFF0000          # the upper halves of CW, SW, TW and FDS, as FNSAVE writes them


def reset_fpu(fpu):
    """fninit: control word 0x37F, status 0 (TOP 0), every register empty (tag 11b), the
    pointers cleared; the registers keep their contents."""
    fpu.cw, fpu.sw, fpu.tw = RESERVED | 0x037F, RESERVED, RESERVED | 0xFFFF
    fpu.fip = fpu.fcs = fpu.fdp = 0
    fpu.fds = RESERVED


def _fpu_last(fields):
    """`fields` then `fpu`, with the padding that puts `fpu` on a 16-byte boundary."""
    last = getattr(type("Head", (ctypes.Structure,), {"_fields_": fields}), fields[-1][0])
    return fields + [("pad_fpu", ctypes.c_uint8 * (-(last.offset + last.size) % 16)), ("fpu", FpuState)]


class CpuState(ctypes.Structure):
    """All guest-visible CPU state plus the monitor's run fields translated code reads."""

    _fields_ = _fpu_last([
        ("gpr", ctypes.c_uint32 * 8),
        ("eip", ctypes.c_uint32),
        ("eflags", ctypes.c_uint32),
        ("cc_op", ctypes.c_uint32),
        ("cc_dst", ctypes.c_uint32),
        ("cc_src", ctypes.c_uint32),
        ("cc_src2", ctypes.c_uint32),
        ("seg", Segment * 6),
        ("ldtr", Segment),
        ("tr", Segment),
        ("gdtr", TableRegister),
        ("idtr", TableRegister),
        ("cr", ctypes.c_uint32 * 5),
        ("dr", ctypes.c_uint32 * 8),         # debug registers: kept, breakpoints not armed
        ("tsc", ctypes.c_uint64),
        ("icount", ctypes.c_uint64),         # guest instructions retired
        ("icount_limit", ctypes.c_uint64),   # translated code returns to the monitor at this count
        ("int_shadow", ctypes.c_uint64),     # icount at which sti/mov ss still blocks interrupts
        ("irq_pending", ctypes.c_uint32),    # an interrupt waits for IF: set by the monitor
        ("pending_fault", ctypes.c_uint32),  # a fault translated code left its block for
                                             # (vmm.x86.exceptions.pending_word), delivered natively
        ("sysenter", ctypes.c_uint64 * 3),   # IA32_SYSENTER_CS, _ESP, _EIP (vmm.x86.msr)
        ("ferr", ctypes.c_uint32),           # FERR# asserted (IRQ 13) for the x87 error pending now
        ("seg_checks", ctypes.c_uint32),     # bit n: segment n is checked (kept by segments.set_cache)
    ])


assert CpuState.fpu.offset % 16 == 0, "FRSTOR/FNSAVE images are kept 16-byte aligned"

