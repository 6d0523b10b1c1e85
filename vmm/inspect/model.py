"""The inspector's data: one BlockView per translated block, hottest first.

Each view holds the guest instructions with their rewrite class and the
rule's reason, the block's LLVM IR as generated and after the tier-2 pipeline,
the host x86-64 code it runs as, and run-time figures: executions (the
block's native counter), its static successors (chaining links) and the
callout the block hands over to, with how often the monitor ran it.

Example:
    m = Machine(engine="jit"); m.load("examples/images/bench.elf"); m.run(max_insns=10**6)
    for view in inspect_machine(m)[:3]:
        print(view.address, view.executions, [i.cls for i in view.insns])
"""

from dataclasses import dataclass, field

from ..machine import Machine
from ..options import check_in_ram
from ..translator import engine as jit_engine
from ..translator.irtext import Module
from ..translator.rules import decide
from ..cache.tcache import Block
from .hostcode import host_disassembly, optimized_ir


@dataclass
class InsnView:
    address: int
    text: str
    raw: str
    cls: str
    reason: str


@dataclass
class BlockView:
    address: int
    tier: int
    executions: int
    insns: list
    successors: list
    callout: dict = field(default_factory=dict)      # {"address", "text", "cls", "count"} or {}
    ir_before: str = ""
    ir_after: str = ""
    host: list = field(default_factory=list)         # ["0000  mov eax, ...", ...]: offset, instruction

    def reasons(self):
        """Each instruction's rewrite reason, said once per block: a reason the block already
        gave on an earlier row is "" (a run of IDENT rows says "lowered to IR as-is" once)."""
        seen, out = set(), []
        for insn in self.insns:
            out.append("" if insn.reason in seen else insn.reason)
            seen.add(insn.reason)
        return out

    def ir_run(self):
        """(label, IR) of the code this block runs: as generated at tier 0, optimised at tier 2."""
        if self.tier == 2:
            return "LLVM IR after the tier-2 passes (the code that runs)", self.ir_after
        return "LLVM IR as generated (tier 0: the code that runs)", self.ir_before

    def host_lines(self):
        """[(offset, instruction)] of the host code, split for display in two columns."""
        return [tuple(line.split("  ", 1)) if "  " in line else ("", line) for line in self.host]


def _block_module(translator, block):
    """A fresh module holding just this block, emitted exactly as the translator does."""
    module = Module(f"inspect_{block.phys:x}")
    translator.emit_block(module, block.fn_name, block.insns, block.fallthrough,
                          0, translator.chain_symbols(0, block.eip, block.mode), block.tier, block.mode)
    return module.text()


def view_block(translator, block, detail=True):
    translator.drain()          # the inspector uses the tier-2 LLVM objects the worker may hold
    insns = [InsnView(i.address, i.text(), i.raw.hex(), decide(i).cls, decide(i).reason) for i in block.insns]
    view = BlockView(block.phys, block.tier, translator.cache.count(block), insns,
                     jit_engine.static_successors(block.insns, block.fallthrough))
    nxt = translator.m.decoder.decode(block.fallthrough) if block.fallthrough < translator.m.memory.size else None
    if nxt is not None and not decide(nxt).translated:
        view.callout = {"address": nxt.address, "text": nxt.text(), "cls": decide(nxt).cls,
                        "reason": decide(nxt).reason, "count": translator.step_counts.get(nxt.address, 0)}
    if detail:
        text = _block_module(translator, block)
        view.ir_before = text
        view.ir_after = optimized_ir(translator.jit, text)
        view.host = host_disassembly(translator.jit, text, block.fn_name, block.tier)
    return view


def inspect_machine(machine, detail=True, limit=None):
    """Views of every live translated block of a jit machine, hottest first."""
    translator = machine.translator
    if translator is None:
        return []
    translator.drain()          # tier-2 code still compiling in the background: install it first
    blocks = sorted(translator.cache.blocks.values(), key=lambda b: (-translator.cache.count(b), b.phys))
    return [view_block(translator, b, detail) for b in blocks[:limit]]


@dataclass
class InspectReport:
    """What `inspect_image` found: the machine, the views (the `limit` hottest blocks), how many
    blocks were live, and how the run ended (None with `at`: nothing ran)."""

    machine: Machine
    views: list
    live_blocks: int
    result: object = None        # the RunResult

    def summary(self):
        if self.result is None:
            return "translated without running the guest"
        ran = f"{self.machine.state.icount} guest instructions, {self.result.reason}"
        ran += f": {self.result.message}" if self.result.message else ""
        return f"{ran}; the {len(self.views)} hottest of {self.live_blocks} live blocks"


def inspect_image(path, at=None, run=None, memory_mb=128, cmdline="", limit=None, address=None, serial=None,
                  initrd=None):
    """Load an image and either translate the block at `at` (an address, or "entry"; no run)
    or run `run` instructions (None: until the guest stops); return an InspectReport.
    BadOption if `at` lies outside RAM."""
    # Every block that runs is translated at its first run: the report is about translations.
    machine = Machine(memory_mb=memory_mb, engine="jit", serial=serial, jit_threshold=1)
    boot = machine.load(path, cmdline=cmdline, address=address, initrd=initrd)
    if at is not None:
        at = check_in_ram(boot.entry if at == "entry" else at, memory_mb, "--at")
        machine.translator = machine.translator or jit_engine.Translator(machine)
        machine.translator.translate(at)
        block = machine.translator.cache.blocks.get(at)
        views = [view_block(machine.translator, block)] if block is not None else []
        return InspectReport(machine, views, len(views))
    result = machine.run(max_insns=run)
    live = len(machine.translator.cache.blocks) if machine.translator is not None else 0
    return InspectReport(machine, inspect_machine(machine, limit=limit), live, result)
