"""THE instruction table: Capstone instruction id -> semantics, rewrite class, block end, reason.

Everything that needs to know about an instruction reads it from here: the
interpreter (which function to run), the translator (IDENT / INLINE /
CALLOUT and whether the block ends), the inspector (the reason shown to the
user) and the tests (which forms exist).  Privileged and sensitive entries
come from the callout registry (vmm.x86.callouts) so they are described once.

Rewrite classes:
  IDENT    translated as-is: the shared semantics lowered straight to code
  INLINE   sensitive, but only virtual CPU state: emulated in place
  CALLOUT  exits to the monitor, which runs the handler on concrete state
  UNDEF    not implemented (or invalid): the guest gets #UD

Example:
    spec = lookup(insn, cs_insn)
    spec.name, spec.cls, spec.ends_block     # ('add', 'IDENT', False)
"""

from dataclasses import dataclass
from typing import Callable, Optional

from capstone import x86_const as X

from .callouts import REGISTRY, CALLOUT, INLINE
from .semantics import alu, bcd, bits, control, flagops, legacy, moves, muldiv, shift, stack, string, x87

IDENT, UNDEF = "IDENT", "UNDEF"


@dataclass(frozen=True)
class Spec:
    name: str
    sem: Optional[Callable]
    cls: str
    ends_block: bool
    reason: str
    cc: Optional[str] = None
    fast: Optional[Callable] = None      # a callout's native fast path (vmm.x86.callouts.Callout.fast)


UNDEFINED = Spec("undefined", None, UNDEF, True, "not implemented by vmm: the guest gets #UD")

_CONDITIONS = ("a", "ae", "b", "be", "e", "g", "ge", "l", "le", "ne", "no", "np", "ns", "o", "p", "s")


def _ident(name, sem, ends_block=False, cc=None, reason="no sensitive state: the semantics run as-is"):
    return Spec(name, sem, IDENT, ends_block, reason, cc)


def _registry(name):
    entry = REGISTRY[name]
    return Spec(name, entry.handler, entry.cls, entry.ends_block, entry.reason, fast=entry.fast)


def _build():
    t = {}
    plain = {
        "ADD": alu.add, "ADC": alu.adc, "SUB": alu.sub, "SBB": alu.sbb, "AND": alu.and_, "OR": alu.or_,
        "XOR": alu.xor, "CMP": alu.cmp, "TEST": alu.test, "INC": alu.inc, "DEC": alu.dec, "NEG": alu.neg,
        "NOT": alu.not_, "XADD": alu.xadd, "CMPXCHG": alu.cmpxchg, "CMPXCHG8B": alu.cmpxchg8b,
        "MOV": moves.mov, "MOVZX": moves.movzx, "MOVSX": moves.movsx, "LEA": moves.lea, "XCHG": moves.xchg,
        "BSWAP": moves.bswap, "XLATB": moves.xlat, "CBW": moves.cbw, "CWDE": moves.cbw, "CWD": moves.cwd,
        "CDQ": moves.cwd, "NOP": moves.nop, "PAUSE": moves.nop, "ENDBR32": moves.nop,
        # hint NOPs of the 0F 18-1F space (QEMU too runs them as NOPs on any CPU model)
        "PREFETCHNTA": moves.nop, "PREFETCHT0": moves.nop, "PREFETCHT1": moves.nop, "PREFETCHT2": moves.nop,
        "CLDEMOTE": moves.nop,
        "SHL": shift.shl, "SAL": shift.shl, "SHR": shift.shr, "SAR": shift.sar, "ROL": shift.rol,
        "ROR": shift.ror, "RCL": shift.rcl, "RCR": shift.rcr, "SHLD": shift.shld, "SHRD": shift.shrd,
        "MUL": muldiv.mul, "IMUL": muldiv.imul, "DIV": muldiv.div, "IDIV": muldiv.idiv,
        "BT": bits.bt, "BTS": bits.bts, "BTR": bits.btr, "BTC": bits.btc, "BSF": bits.bsf, "BSR": bits.bsr,
        # F3 0F BC/BD: on a CPU without BMI1/ABM (vmm's CPUID model) the F3 is ignored and they
        # are bsf/bsr; Linux's __ffs is written "rep; bsf", GCC emits it for __builtin_ctz
        "TZCNT": bits.bsf, "LZCNT": bits.bsr,
        "PUSH": stack.push, "POP": stack.pop, "PUSHAL": stack.pusha, "PUSHAW": stack.pusha,
        "POPAL": stack.popa, "POPAW": stack.popa, "ENTER": stack.enter, "LEAVE": stack.leave,
        "DAA": bcd.daa, "DAS": bcd.das, "AAA": bcd.aaa, "AAS": bcd.aas, "AAM": bcd.aam, "AAD": bcd.aad,
        "BOUND": legacy.bound, "ARPL": legacy.arpl, "SALC": legacy.salc,
        "CLC": flagops.clc, "STC": flagops.stc, "CMC": flagops.cmc, "CLD": flagops.cld, "STD": flagops.std,
    }
    for name, sem in plain.items():
        t[getattr(X, f"X86_INS_{name}")] = _ident(name.lower(), sem)
    for name, sem in (("JMP", control.jmp), ("CALL", control.call), ("RET", control.ret),
                      ("JECXZ", control.jecxz), ("JCXZ", control.jecxz), ("LOOP", control.loop)):
        t[getattr(X, f"X86_INS_{name}")] = _ident(name.lower(), sem, ends_block=True)
    for name, cc in (("LOOPE", "e"), ("LOOPNE", "ne")):
        t[getattr(X, f"X86_INS_{name}")] = _ident(name.lower(), control.loop, True, cc)
    for cc in _CONDITIONS:
        t[getattr(X, f"X86_INS_J{cc.upper()}")] = _ident(f"j{cc}", control.jcc, True, cc)
        t[getattr(X, f"X86_INS_SET{cc.upper()}")] = _ident(f"set{cc}", moves.setcc, cc=cc)
        t[getattr(X, f"X86_INS_CMOV{cc.upper()}")] = _ident(f"cmov{cc}", moves.cmovcc, cc=cc)
    for base, sem in (("MOVS", string.movs), ("CMPS", string.cmps), ("SCAS", string.scas),
                      ("LODS", string.lods), ("STOS", string.stos)):
        for suffix in "BWD":
            # ends the block: under rep the instruction repeats itself via EIP
            t[getattr(X, f"X86_INS_{base}{suffix}")] = _ident(f"{base.lower()}{suffix.lower()}", sem, True)
    for suffix in "BWD":
        t[getattr(X, f"X86_INS_INS{suffix}")] = _registry("ins")
        t[getattr(X, f"X86_INS_OUTS{suffix}")] = _registry("outs")
    for name, entry in (("CLI", "cli"), ("STI", "sti"), ("PUSHFD", "pushf"), ("PUSHF", "pushf"),
                        ("POPFD", "popf"), ("POPF", "popf"), ("LAHF", "lahf"), ("SAHF", "sahf"),
                        ("RDTSC", "rdtsc"), ("HLT", "hlt"), ("IN", "in"), ("OUT", "out"),
                        ("LGDT", "lgdt"), ("LIDT", "lidt"), ("SGDT", "sgdt"), ("SIDT", "sidt"),
                        ("LJMP", "ljmp"), ("IRETD", "iret"), ("CPUID", "cpuid"), ("RDMSR", "rdmsr"),
                        ("WRMSR", "wrmsr"), ("INT", "int"), ("INT3", "int3"), ("INT1", "int1"), ("INTO", "into"),
                        ("INVLPG", "invlpg"), ("WBINVD", "wbinvd"), ("INVD", "invd"), ("CLTS", "clts"),
                        ("LCALL", "lcall"), ("RETF", "retf"), ("IRET", "iret"), ("LTR", "ltr"), ("STR", "str"),
                        ("LLDT", "lldt"), ("SLDT", "sldt"), ("SMSW", "smsw"), ("LMSW", "lmsw"),
                        ("LAR", "lar"), ("LSL", "lsl"), ("VERR", "verr"), ("VERW", "verw"),
                        ("SYSENTER", "sysenter"), ("SYSEXIT", "sysexit"), ("LES", "load_far_pointer"),
                        ("LDS", "load_far_pointer"), ("LSS", "load_far_pointer"), ("LFS", "load_far_pointer"),
                        ("LGS", "load_far_pointer")):
        t[getattr(X, f"X86_INS_{name}")] = _registry(entry)
    t.update(x87.table_entries(_ident))
    return t


TABLE = _build()
_MOV_FORMS = {"seg": _registry("mov_to_seg"), "cr": _registry("mov_to_cr"), "dr": _registry("mov_to_dr")}
_MOV_FROM = {"cr": _registry("mov_from_cr"), "dr": _registry("mov_from_dr")}
_POP_SEG = _registry("pop_seg")
_NEAR_IDS = (X.X86_INS_JMP, X.X86_INS_CALL)
_FAR_FORMS = {X.X86_INS_JMP: _registry("ljmp"), X.X86_INS_CALL: _registry("lcall")}
_SSE_TWINS = (X.X86_INS_MOVSD, X.X86_INS_CMPSD)        # string op ids shared with SSE opcodes
_LOCKABLE = frozenset(getattr(X, f"X86_INS_{n}") for n in (
    "ADD", "ADC", "AND", "BTC", "BTR", "BTS", "CMPXCHG", "CMPXCHG8B", "DEC", "INC", "NEG", "NOT",
    "OR", "SBB", "SUB", "XOR", "XADD", "XCHG"))


def _far_form(cs_insn):
    """FF /3 (call far m16:32) or FF /5 (jmp far m16:32), by the ModRM reg field."""
    return cs_insn.modrm >> 3 & 7 in (3, 5)


def lookup(insn, cs_insn):
    """The Spec for a decoded instruction, resolving forms that share a Capstone id."""
    spec = TABLE.get(insn.id, UNDEFINED)
    ops = insn.ops
    if insn.id == X.X86_INS_MOV:
        if ops[0].kind in _MOV_FORMS:
            return _MOV_FORMS[ops[0].kind]
        if ops[1].kind in _MOV_FROM:
            return _MOV_FROM[ops[1].kind]
    elif insn.id == X.X86_INS_POP and ops[0].kind == "seg":
        return _POP_SEG if ops[0].index != 1 else UNDEFINED          # pop cs does not exist
    elif insn.id in _SSE_TWINS and cs_insn.opcode[0] == 0x0F:
        return UNDEFINED
    elif insn.id in _NEAR_IDS and ops and ops[0].kind == "mem" and _far_form(cs_insn):
        # jmp/call far through a m16:32 pointer (FF /5, FF /3): Capstone gives them the near ids
        return _FAR_FORMS[insn.id]
    if insn.lock and (insn.id not in _LOCKABLE or not ops or ops[0].kind != "mem"):
        return UNDEFINED                                              # SDM: lock elsewhere is #UD
    return spec
