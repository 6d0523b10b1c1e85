"""The reference interpreter: fetch, decode (cached), run the shared semantics on Python ints.

`run(machine, budget)` executes up to `budget` guest instructions and returns how many
retired (with EFLAGS.TF set, each is followed by a #DB trap); it stops early when the
machine has a stop request (hlt, debug-exit, a hook), an interrupt to take, or before an
instruction at a debugger breakpoint (Machine.breakpoints), unless the debugger is resuming
from there (Machine.step_over).  A GuestFault leaves EIP on the faulting instruction and is
delivered through the guest IDT (or stops the run).

Example:
    retired = run(machine, 10_000)
"""

from ..errors import GuestFault
from ..x86.decoder import fetch
from ..x86.exceptions import DB, UD
from ..x86.interrupts import deliver
from ..x86.table import CALLOUT
from ..x86.protection import TF_MASK
from .builder import SkipRest


def run(m, budget, to_block_end=False):
    """Interpret up to `budget` steps; return the number of instructions retired.
    `to_block_end`: stop after an instruction that ends a translated block, or after a
    fault is delivered (the translator interprets the rest of a block it left mid-way)."""
    s, b = m.state, m.builder
    hooks = m.code_hooks
    breakpoints = m.breakpoints
    retired = 0
    for step in range(budget):                  # a step retires one instruction or delivers a fault
        if (m.stop_reason is not None or m.attention or (s.irq_pending and m.interrupt_waits())
                or (step & 1023 == 1023 and m.past_deadline())):
            break
        if breakpoints and s.eip in breakpoints and (s.icount, s.eip) != m.step_over:
            m.stop("breakpoint", 0, f"breakpoint at {s.eip:#010x}")
            break
        try:
            insn = fetch(m)
        except GuestFault as fault:              # #PF on the fetch: EIP stays on the instruction
            deliver(m, fault.vector, fault.error_code, s.eip, fault.reason)
            if to_block_end:
                break
            continue
        if hooks:
            for hook in hooks:
                hook(m, insn)
            if m.stop_reason is not None:         # a hook may stop before the instruction runs
                break
        spec = insn.spec
        b.insn, b.target = insn, None
        single_step = s.eflags & TF_MASK
        try:
            if spec.cls == CALLOUT:
                m.callouts += 1
                if m.trace is not None:
                    m.trace.callout(m, insn)
                spec.sem(m, b, insn)
            elif spec.sem is None:
                raise GuestFault(UD, None, f"{insn.text()!r} ({insn.raw.hex()}): {insn.why}")
            else:
                spec.sem(b, insn)
        except SkipRest:
            pass
        except GuestFault as fault:
            if m.trace is not None:
                m.trace.interrupt(fault.vector, fault.error_code, insn.address, fault.reason or insn.text())
            deliver(m, fault.vector, fault.error_code, insn.address, fault.reason or insn.text())
            if to_block_end:
                break
            continue
        s.eip = insn.next if b.target is None else b.target
        s.icount += 1
        retired += 1
        if single_step and m.stop_reason is None and not m.halted:
            deliver(m, DB, None, s.eip, "single-step (EFLAGS.TF)")   # a trap after the instruction
        if to_block_end and spec.ends_block:
            break
    return retired
