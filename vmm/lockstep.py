"""Lockstep checking: the translator and the interpreter run the same guest block by block.

After every translated block (or monitor step) the interpreter runs the same
number of instructions on its own copy of the machine; registers, flags,
segment state and EIP must match, and guest RAM must match every
`MEMORY_EVERY` blocks and at the end.  The first divergence stops the run
and both states are reported side by side.

Example:
    report = lockstep(jit_machine, interp_machine, max_insns=10_000_000, timeout=60)
    if report.divergence: print(report.describe())
"""

import time
from dataclasses import dataclass, field

from .errors import GuestFault, VmmError
from .translator.blocks import form_block
from .x86.mmu import FETCH
from .x86.state import CS, FPU_IMAGE_SIZE, GPR_NAMES, SEG_NAMES

MEMORY_EVERY = 4096


def snapshot(m):
    """The architectural state compared in lockstep, as a flat dict."""
    s = m.state
    state = {name: m.reg_read(name) for name in GPR_NAMES + ("eip", "eflags")}
    for n, name in enumerate(SEG_NAMES):
        state[f"{name}.base"] = s.seg[n].base
        state[name] = s.seg[n].selector
    for n in (0, 2, 3, 4):
        state[f"cr{n}"] = s.cr[n]
    state["icount"] = s.icount
    image = bytes(s.fpu)[:FPU_IMAGE_SIZE]          # the x87 as FNSAVE shows it, in 4-byte words
    for k in range(0, FPU_IMAGE_SIZE, 4):
        state[f"fpu+{k}"] = int.from_bytes(image[k:k + 4], "little")
    return state


@dataclass
class LockstepReport:
    instructions: int = 0
    blocks: int = 0
    divergence: str = ""
    primary: dict = field(default_factory=dict)
    shadow: dict = field(default_factory=dict)
    reason: str = ""

    def describe(self):
        if not self.divergence:
            return f"lockstep: {self.instructions} instructions in {self.blocks} blocks, no divergence ({self.reason})"
        lines = [f"lockstep: DIVERGENCE after {self.instructions} instructions ({self.blocks} blocks): {self.divergence}",
                 f"  {'':12} {'jit':>12} {'interp':>12}"]
        for key in self.primary:
            mark = "  <--" if self.primary[key] != self.shadow.get(key) else ""
            lines.append(f"  {key:12} {self.primary[key]:>#12x} {self.shadow.get(key, 0):>#12x}{mark}")
        return "\n".join(lines)


def _first_memory_difference(a, b):
    size = a.memory.size
    step = 1 << 16
    for start in range(0, size, step):
        if a.memory.buf[start:start + step] != b.memory.buf[start:start + step]:
            chunk_a, chunk_b = a.memory.buf[start:start + step], b.memory.buf[start:start + step]
            offset = next(i for i in range(len(chunk_a)) if chunk_a[i] != chunk_b[i])
            return start + offset
    return None


def _block_length(m):
    """Instructions in the block the translator runs next (1 where the monitor steps one),
    formed as the translator forms it: with paging through the MMU, looking ahead as it does
    (Mmu.lookahead), into the next page for an instruction that crosses into it."""
    linear = (m.state.seg[CS].base + m.state.eip) & 0xFFFFFFFF
    next_frame = (lambda page: m.mmu.lookahead(page, FETCH)) if m.mmu.paging else None
    try:
        insns = form_block(m.decoder, linear, m.mmu.lookahead(linear, FETCH), next_frame=next_frame).insns
    except (VmmError, GuestFault):   # EIP outside RAM or unmapped: the engines report that themselves
        return 1
    return max(len(insns), 1)


def lockstep(primary, shadow, max_insns=None, timeout=None):
    """Run `primary` (translator) and `shadow` (interpreter) in lockstep; return a report.
    Each step gives the translator a budget of exactly the next block's length (budgets are
    exact, so it runs that one block and chains no further); the interpreter then runs as
    many instructions.  `timeout` seconds end the run with reason "timeout"."""
    report = LockstepReport()
    deadline = None if timeout is None else time.perf_counter() + timeout
    while max_insns is None or report.instructions < max_insns:
        if deadline is not None and time.perf_counter() > deadline:
            report.reason = "timeout"
            return report
        before = primary.state.icount
        length = _block_length(primary)
        if max_insns is not None:
            length = min(length, max_insns - report.instructions)
        result = primary.run(max_insns=length)
        ran = primary.state.icount - before
        # A run that stopped early (an error, hlt, an exit) gives the interpreter the same
        # budget, so it must stop at the same place by itself.
        shadow_result = shadow.run(max_insns=ran if result.reason == "limit" else length)
        report.blocks += 1
        report.instructions = primary.state.icount
        a, b = snapshot(primary), snapshot(shadow)
        if a != b:
            report.divergence = "registers differ"
        elif report.blocks % MEMORY_EVERY == 0 or result.reason != "limit":
            address = _first_memory_difference(primary, shadow)
            if address is not None:
                report.divergence = f"guest RAM differs first at {address:#x}"
        if not report.divergence and result.reason != shadow_result.reason:
            report.divergence = f"run ended differently: jit {result.reason}, interp {shadow_result.reason}"
        if report.divergence:
            report.primary, report.shadow = a, b
            return report
        if result.reason != "limit":
            report.reason = result.reason + (f": {result.message}" if result.message else "")
            return report
    report.reason = "instruction limit"
    return report
