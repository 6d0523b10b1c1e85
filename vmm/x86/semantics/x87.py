"""The x87 FPU: every x87 instruction, each run on the host's own x87 through a native helper.

The semantics here do what belongs to the guest machine -- #NM, guest memory operands
through the MMU (all loads first, stores before any FPU state changes), FIP/FDP, the
EFLAGS of fcomi and the condition of fcmovcc, AX of `fnstsw ax` -- and hand the
instruction itself to the helper of its form (vmm.x86.fpu.native), which executes the
guest's opcode on the host x87 with the guest's FPU state.  So 80-bit arithmetic, rounding
and precision control, C0-C3, stack overflow/underflow, tags, fprem, fxam, fscale and
the rest are bit-exact with the host CPU.  Both engines call the same compiled helper.

What vmm does (documented choices):
  * Exceptions: the flags, ES/B and the result (the masked response, or for an unmasked
    exception the destination left alone) are the hardware's.  An unmasked exception is
    reported when the next waiting instruction (every x87 instruction but fninit, fnclex,
    fnstsw, fnstcw, fnstenv and fnsave; fwait too) finds ES set: with CR0.NE, #MF (vector
    16, a fault: EIP on that instruction, nothing changed); with CR0.NE clear, the PC's
    FERR# line, IRQ 13 (vmm.x86.interrupts.assert_ferr), after which that instruction and
    the next run as if the exception were masked until one finds ES clear (FERR# drops).
    QEMU reports only at fwait and fnop.
  * Precision and rounding control are the guest's: the host runs with the guest's CW.
  * #NM (vector 7): CR0.EM or CR0.TS set, for every x87 instruction; fwait/wait only
    when both CR0.TS and CR0.MP are set.  #NM comes before #MF.
  * FIP/FCS/FOP are set by every non-control instruction, FDP/FDS by those with a memory
    operand.  The 16-bit (0x66-prefixed) fnstenv/fldenv/fnsave/frstor images are not
    modelled: those forms are #UD.
  * The reserved upper halves of the control, status, tag and FDS words in an fnsave or
    fnstenv image are what the hardware writes (0xFFFF).

Example:
    execute(b, insn)      # insn = "fadd qword ptr [esi]": load, run natively, done
"""

from functools import lru_cache

from capstone import x86_const as X

from ..exceptions import MF, NM, UD
from ..flags import cond
from ..fpu.forms import form
from ..fpu.native import IO
from ..operands import address, effective_address
from ..state import CR0_NE, CS, EAX, RESERVED

CR0_MP, CR0_EM, CR0_TS = 1 << 1, 1 << 2, 1 << 3
_PREFIXES = frozenset((0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3))
FCOMI_FLAGS = 0x45               # ZF PF CF from the host's lahf; OF SF AF are cleared
ARITH_FLAGS = 0x8D5
SW_OFFSET, CW_OFFSET = 4, 0
SW_ES = 0x80                     # the status word's error summary: an unmasked exception pending


@lru_cache(maxsize=4096)
def _decode(raw):
    """(Form, FOP, 16-bit operand size) of an x87 instruction's bytes."""
    k = 0
    while raw[k] in _PREFIXES:
        k += 1
    opcode, modrm = raw[k], raw[k + 1]
    return form(opcode, modrm), ((opcode & 7) << 8) | modrm, 0x66 in raw[:k]


def _chunks(size):
    """(offset, width) pieces of a `size`-byte memory operand, 8 bytes at a time."""
    pieces, offset = [], 0
    while offset < size:
        w = 64 if size - offset >= 8 else 32 if size - offset >= 4 else 16
        pieces.append((offset, w))
        offset += w // 8
    return pieces


def _available(b, mask=CR0_EM | CR0_TS, value=None):
    """#NM unless (CR0 & mask) is 0 (or, for fwait, is not `value`)."""
    bits = b.and_(b.field("cr0"), b.const(mask, 32), 32)
    b.raise_if(b.ne(bits, b.const(0, 32), 32) if value is None else b.eq(bits, b.const(value, 32), 32), NM)


def _report_pending(b):
    """Before a waiting instruction: an unmasked exception pending (ES) is #MF with CR0.NE;
    with CR0.NE clear it asserts FERR# (the fault's delivery raises IRQ 13 and sets `ferr`),
    and once FERR# is asserted the instruction runs.  FERR# drops when ES is found clear."""
    zero = b.const(0, 32)
    status = b.trunc(b.native("x87_read", [b.const(SW_OFFSET, 64)]), 64, 32)
    pending = b.ne(b.and_(status, b.const(SW_ES, 32), 32), zero, 32)
    native = b.ne(b.and_(b.field("cr0"), b.const(CR0_NE, 32), 32), zero, 32)
    asserted = b.ne(b.field("ferr"), zero, 32)
    b.raise_if(b.and_(pending, b.or_(native, b.xor(asserted, b.const(1, 1), 1), 1), 1), MF)
    b.set_field("ferr", b.zext(pending, 1, 32))


def _memory_operand(i):
    return next((op for op in i.ops if op.kind == "mem"), None)


def _pointers(b, i, fop, mem):
    """The helper's ip (FIP | FCS << 32 | FOP << 48) and dp (FDP | FDS << 32) arguments."""
    fip = b.const(i.address, 32)                 # an offset in CS: the decoder's addresses are EIPs
    fcs = b.or_(b.field(f"seg{CS}.selector"), b.const(fop << 16, 32), 32)
    ip = _pair(b, fip, fcs)
    if mem is None:
        return ip, b.const(0, 64)
    fds = b.or_(b.field(f"seg{mem.seg}.selector"), b.const(RESERVED, 32), 32)
    return ip, _pair(b, effective_address(b, mem), fds)


def _pair(b, lo, hi):
    return b.or_(b.zext(lo, 32, 64), b.shl(b.zext(hi, 32, 64), b.const(32, 64), 64), 64)


def _offset(b, addr, offset):
    return b.add(addr, b.const(offset, 32), 32)


def execute(b, i, operand=None):
    """Any x87 form: guest memory operand in, the host instruction, result out.
    `operand`: the helper's first argument when it is not memory (the fcmovcc condition)."""
    f, fop, opsize16 = _decode(i.raw)
    _available(b)
    if opsize16 and (f.env_in or f.env_out):
        b.raise_if(b.const(1, 1), UD)                # 16-bit environment images: not modelled
        return None
    if f.waits:
        _report_pending(b)
    mem = _memory_operand(i) if f.memory else None
    # One check covers the whole operand or image; a store checks as a write (its old
    # contents are read too).
    addr = address(b, mem, write=bool(f.store), w=8 * max(f.load, f.store)) if mem is not None else None
    args = _inputs(b, f, addr) if operand is None else [operand, b.const(0, 64)]
    result = b.native(f.name, args + list(_pointers(b, i, fop, mem)))
    if f.store:
        _store_result(b, f, addr, result)
    return result


def _inputs(b, f, addr):
    """The helper's a, b: the memory operand (an environment image goes to `io` instead).
    A store of at most 16 bytes passes the old contents: they stay if an unmasked
    exception stops the host from storing."""
    pieces = _chunks(f.load or (f.store if f.store <= 16 else 0))
    words = [b.zext(b.load(_offset(b, addr, off), w), w, 64) for off, w in pieces]
    if f.load > 16:
        for (off, _), word in zip(pieces, words):
            b.native("x87_write", [b.const(IO + off, 64), word])
        words = []
    return words + [b.const(0, 64)] * (2 - len(words))


def _store_result(b, f, addr, result):
    """Store what the host instruction left in `io` (its first 8 bytes are `result`), then
    make the new FPU state current: only now can no access fault any more."""
    for off, w in _chunks(f.store):
        word = result if off == 0 else b.native("x87_read", [b.const(IO + off, 64)])
        b.store(_offset(b, addr, off), b.trunc(word, 64, w), w)
    b.native("x87_commit", [])


def fcomi(b, i):
    """fcomi, fucomi and their popping forms: C0/C2/C3 go to CF/PF/ZF."""
    flags = b.trunc(execute(b, i), 64, 32)
    b.set_eflags(b.and_(flags, b.const(FCOMI_FLAGS, 32), 32), ARITH_FLAGS)


def fcmovcc(b, i):
    execute(b, i, b.zext(cond(b, i.spec.cc), 1, 64))


def fnstsw(b, i):
    """fnstsw ax / m16: no native run (a control instruction that changes nothing)."""
    _available(b)
    status = b.trunc(b.native("x87_read", [b.const(SW_OFFSET, 64)]), 64, 16)
    dst = i.ops[0]
    if dst.kind == "gpr":
        b.set_reg(EAX, status, 16, 0)
    else:
        b.store(address(b, dst, write=True), status, 16)


def fnstcw(b, i):
    _available(b)
    control = b.trunc(b.native("x87_read", [b.const(CW_OFFSET, 64)]), 64, 16)
    b.store(address(b, i.ops[0], write=True), control, 16)


def fwait(b, i):
    """wait/fwait: #NM only if CR0.TS and CR0.MP; then a pending exception is reported."""
    _available(b, CR0_TS | CR0_MP, CR0_TS | CR0_MP)
    _report_pending(b)


_EXECUTED = (
    "F2XM1 FABS FADD FBLD FBSTP FCHS FCOM FCOMP FCOMPP FCOS FDECSTP FDIV FDIVP FDIVR FDIVRP "
    "FFREE FFREEP FIADD FICOM FICOMP FIDIV FIDIVR FILD FIMUL FINCSTP FIST FISTP FISTTP FISUB "
    "FISUBR FLD FLD1 FLDCW FLDENV FLDL2E FLDL2T FLDLG2 FLDLN2 FLDPI FLDZ FMUL FMULP FNCLEX "
    "FNINIT FNOP FNSAVE FNSTENV FPATAN FPREM FPREM1 FPTAN FRNDINT FRSTOR FSCALE FSIN FSINCOS "
    "FSQRT FST FSTP FSUB FSUBP FSUBR FSUBRP FTST FUCOM FUCOMP FUCOMPP FXAM FXCH FXTRACT FYL2X "
    "FYL2XP1").split()
_FCMOV = {"FCMOVB": "b", "FCMOVBE": "be", "FCMOVE": "e", "FCMOVNB": "ae", "FCMOVNBE": "a",
          "FCMOVNE": "ne", "FCMOVNU": "np", "FCMOVU": "p"}


REASON = "x87: runs on the host's x87 through a native helper (vmm.x86.fpu.native)"
REASON_STATE = "x87 status/control read or #NM/#MF check only: no host x87 instruction needed"


def table_entries(ident):
    """{Capstone id: Spec} for the instruction table; `ident(name, sem, cc=..., reason=...)`
    makes a Spec (vmm.x86.table._ident)."""
    sems = {name: execute for name in _EXECUTED}
    sems.update({name: fcomi for name in ("FCOMI", "FCOMPI", "FUCOMI", "FUCOMPI")})
    sems.update({name: fcmovcc for name in _FCMOV}, FNSTSW=fnstsw, FNSTCW=fnstcw, WAIT=fwait)
    return {getattr(X, f"X86_INS_{name}"): ident(name.lower(), sem, cc=_FCMOV.get(name),
                                                 reason=REASON if sem in (execute, fcomi, fcmovcc) else REASON_STATE)
            for name, sem in sems.items()}
