"""Differential testing against Unicorn: run one snippet on Unicorn and on a vmm engine.

Both start from the same registers, arithmetic flags and memory; the test
compares every GPR, EIP, the arithmetic flags and DF, and the data and stack
regions.  A snippet that faults must fault on both, with the same vector and
the same state (EIP on the faulting instruction).

Memory map of a snippet run (1 MiB machine):
    0x01000  code            0x10000-0x12000  data (random bytes)
    0x1F000  initial ESP     0x1E000-0x20000  stack region compared too
Registers named in POINTERS point into the data region so memory operands
stay inside RAM; the others are random.

Example:
    ctx = Snippet("add eax, ebx")
    assert_same(ctx.run_unicorn(regs, flags, data), ctx.run_vmm("interp", regs, flags, data))
"""

import functools

from keystone import Ks, KS_ARCH_X86, KS_MODE_32
from unicorn import (Uc, UcError, UC_ARCH_X86, UC_MODE_32, UC_HOOK_INTR, UC_ERR_INSN_INVALID,
                     UC_ERR_READ_UNMAPPED, UC_ERR_WRITE_UNMAPPED, UC_ERR_FETCH_UNMAPPED)
from unicorn import x86_const as U

from tests.asmguest import new_machine
from vmm.translator.exits import STEP
from vmm.translator.rules import decide

CODE, DATA, DATA_SIZE, STACK_TOP, STACK_LOW = 0x1000, 0x10000, 0x2000, 0x1F000, 0x1E000
GPRS = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")
POINTERS = {"esi": DATA + 0x400, "edi": DATA + 0x1400, "ebp": DATA + 0x1000}
FLAGS_COMPARED = 0x8D5 | 0x400        # CF PF AF ZF SF OF, and DF
HLT = b"\xf4"
_UC_REG = {name: getattr(U, f"UC_X86_REG_{name.upper()}") for name in GPRS + ("eip", "eflags")}


@functools.lru_cache(maxsize=None)
def assemble(asm):
    encoding, _ = Ks(KS_ARCH_X86, KS_MODE_32).asm(asm, CODE)
    return bytes(encoding)


class Outcome:
    """Final registers, flags, memory and fault vector of one run."""

    def __init__(self, regs, eflags, data, stack, fault):
        self.regs, self.eflags, self.data, self.stack, self.fault = regs, eflags, data, stack, fault

    def describe(self):
        regs = " ".join(f"{k}={v:08x}" for k, v in self.regs.items())
        return f"{regs} eflags={self.eflags:08x} fault={self.fault}"


def run_unicorn(code, regs, eflags, data):
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(0, 0x100000)
    uc.mem_write(CODE, code + HLT)             # the same bytes as vmm's memory (a data read may see them)
    uc.mem_write(DATA, data)
    for name, value in regs.items():
        uc.reg_write(_UC_REG[name], value)
    uc.reg_write(U.UC_X86_REG_EFLAGS, eflags)
    fault = []

    def on_interrupt(uc, vector, user):
        fault.append(vector)
        uc.emu_stop()

    uc.hook_add(UC_HOOK_INTR, on_interrupt)
    try:
        uc.emu_start(CODE, CODE + len(code))
    except UcError as error:                   # Unicorn reports #UD as an error, not an interrupt
        unmapped = error.errno in (UC_ERR_READ_UNMAPPED, UC_ERR_WRITE_UNMAPPED, UC_ERR_FETCH_UNMAPPED)
        fault.append(6 if error.errno == UC_ERR_INSN_INVALID else "memory" if unmapped else str(error))
    final = {name: uc.reg_read(_UC_REG[name]) for name in GPRS + ("eip",)}
    return Outcome(final, uc.reg_read(U.UC_X86_REG_EFLAGS), bytes(uc.mem_read(DATA, DATA_SIZE)),
                   bytes(uc.mem_read(STACK_LOW, STACK_TOP - STACK_LOW + 0x1000)), fault[0] if fault else None)


@functools.lru_cache(maxsize=None)
def _machine(engine):
    return new_machine(engine, memory_mb=1)


def run_vmm(engine, code, regs, eflags, data, max_insns=10_000):
    m = _machine(engine)
    m.mem_write(0, bytes(0x20000))              # a clean slate: translations of the last run drop
    m.mem_write(CODE, code + HLT)              # vmm stops at the hlt (IF is clear)
    m.mem_write(DATA, data)
    for name, value in regs.items():
        m.reg_write(name, value)
    m.reg_write("eip", CODE)
    for seg in ("es", "cs", "ss", "ds", "fs", "gs"):
        m.reg_write(seg, 0)                      # Unicorn's flat mode has null selectors
    m.state.cc_op = 0
    m.reg_write("eflags", eflags)
    steps_before, smc_before = _step_exits(m), _smc(m)
    result = m.run(max_insns=max_insns)
    if result.reason not in ("halt", "error"):
        raise AssertionError(f"vmm run ended with {result.reason}: {result.message}")
    fault = result.fault
    if result.reason == "error" and fault is None and result.message.startswith("guest memory error"):
        fault = "memory"
    if m.translator is not None and fault is None and _smc(m) == smc_before:
        assert_ran_natively(m, code, _step_exits(m) - steps_before)
    final = {name: m.reg_read(name) for name in GPRS + ("eip",)}
    if result.reason == "halt":
        final["eip"] -= len(HLT)                 # Unicorn stops before the end address instead
    return Outcome(final, m.reg_read("eflags"), m.mem_read(DATA, DATA_SIZE),
                   m.mem_read(STACK_LOW, STACK_TOP - STACK_LOW + 0x1000), fault)


def _smc(m):
    """Stores into translated code so far (a snippet that writes code it then runs, or that
    was translated ahead of its own stores, leaves for the interpreter there, rightly)."""
    return m.translator.cache.stats.granule_invalidations if m.translator is not None else 0


def _step_exits(m):
    return m.translator.exits[STEP] if m.translator is not None else 0


def assert_ran_natively(m, code, step_exits):
    """On the jit, a snippet that did not fault ran as translated code: its first block was
    translated (unless its first instruction is one the monitor runs) and no side exit sent
    an instruction back to the interpreter.  A translator that interpreted everything would
    otherwise pass every differential test."""
    first = m.decoder.decode(CODE)
    if decide(first).translated:
        assert CODE in m.translator.cache.blocks, f"{first.text()!r}: the snippet was not translated"
    assert step_exits == 0, f"{step_exits} STEP exits (instructions interpreted) without a fault"


def assert_same(asm, oracle, ours, initial):
    where = f"{asm!r} from {initial}"
    assert ours.fault == oracle.fault, f"fault: vmm {ours.fault} unicorn {oracle.fault} for {where}"
    if ours.fault == "memory":
        return                 # both refused an access outside RAM; partial state is not comparable
    for name in GPRS + ("eip",):
        assert ours.regs[name] == oracle.regs[name], (
            f"{name}: vmm {ours.regs[name]:#x} unicorn {oracle.regs[name]:#x} for {where}\n"
            f"  vmm     {ours.describe()}\n  unicorn {oracle.describe()}")
    assert ours.eflags & FLAGS_COMPARED == oracle.eflags & FLAGS_COMPARED, (
        f"eflags: vmm {ours.eflags:#x} unicorn {oracle.eflags:#x} (diff {(ours.eflags ^ oracle.eflags) & FLAGS_COMPARED:#x}) for {where}")
    assert ours.data == oracle.data, f"data memory differs for {where}"
    assert ours.stack == oracle.stack, f"stack memory differs for {where}"
