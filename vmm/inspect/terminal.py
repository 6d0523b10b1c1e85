"""The inspector's terminal view (rich): each block's guest code with rewrite decisions, the
LLVM IR the block runs (as generated at tier 0, optimised at tier 2) and its host code,
syntax-coloured; then how the guest's run ended.

Example:
    render(report.views, Console(), show_ir=True)
    render_outcome(report, "standard output", Console())
"""

from rich.console import Group
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

CLASS_STYLE = {"IDENT": "green", "INLINE": "yellow", "CALLOUT": "red", "UNDEF": "bold red"}
THEME = "ansi_dark"


def _host(view):
    """Host code with offsets in a plain gutter: only the instructions go through the lexer."""
    lines = view.host_lines()
    code = Syntax("", "nasm", theme=THEME).highlight("\n".join(insn for _, insn in lines)).split("\n")
    return Text("\n").join(Text.assemble((offset, "dim"), "  ", line) for (offset, _), line in zip(lines, code))


def block_panel(view, show_ir=True, show_host=True):
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("address", style="cyan")
    table.add_column("guest instruction")
    table.add_column("rewrite")
    table.add_column("why (once per block)", style="dim")
    # Guest text and reasons are Text, not markup: `dword ptr [ebp + 4]` is not a style tag.
    for insn, reason in zip(view.insns, view.reasons()):
        table.add_row(f"{insn.address:#010x}", Text(insn.text), Text(insn.cls, style=CLASS_STYLE[insn.cls]),
                      Text(reason))
    if view.callout:
        c = view.callout
        table.add_row(f"{c['address']:#010x}", Text(c["text"]), Text(c["cls"], style=CLASS_STYLE[c["cls"]]),
                      Text(f"{c['reason']} (monitor ran it {c['count']}x)"))
    parts = [table]
    if show_ir:
        label, ir = view.ir_run()
        parts += [Text(label, style="bold"), Syntax(ir, "llvm", theme=THEME, word_wrap=True)]
    if show_host:
        parts += [Text(f"host x86-64 (tier {view.tier}, object code before relocation)", style="bold"), _host(view)]
    successors = ", ".join(f"{a:#x}" for a in view.successors) or "dynamic"
    title = f"block {view.address:#010x}  tier {view.tier}  executed {view.executions}x  -> {successors}"
    return Panel(Group(*parts), title=title, title_align="left")


def render(views, console, show_ir=True, show_host=True):
    for view in views:
        console.print(block_panel(view, show_ir, show_host))


def render_outcome(report, serial, console):
    """The end of the story: what ran and why it stopped, where the serial output went, and the
    exit status `vmm run` would have given."""
    line = f"{report.summary()}; serial output: {serial}"
    if report.result is not None:
        from ..cli import exit_status
        line += f"; exit status {exit_status(report.result)}"
    console.print(Text(line), soft_wrap=True)         # paths stay whole, for copying
