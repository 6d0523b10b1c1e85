"""The inspector's terminal view (rich): each block's guest code with rewrite decisions,
LLVM IR and host code, syntax-coloured.

Example:
    render(views, Console(), show_ir=True)
"""

from rich.console import Group
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

CLASS_STYLE = {"IDENT": "green", "INLINE": "yellow", "CALLOUT": "red", "UNDEF": "bold red"}


def block_panel(view, show_ir=True, show_host=True):
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("address", style="cyan")
    table.add_column("guest instruction")
    table.add_column("rewrite")
    table.add_column("why", style="dim")
    # Guest text and reasons are Text, not markup: `dword ptr [ebp + 4]` is not a style tag.
    for insn in view.insns:
        table.add_row(f"{insn.address:#010x}", Text(insn.text), Text(insn.cls, style=CLASS_STYLE[insn.cls]),
                      Text(insn.reason))
    if view.callout:
        c = view.callout
        table.add_row(f"{c['address']:#010x}", Text(c["text"]), Text(c["cls"], style=CLASS_STYLE[c["cls"]]),
                      Text(f"{c['reason']} (monitor ran it {c['count']}x)"))
    parts = [table]
    if show_ir:
        parts += ["[bold]LLVM IR after the tier-2 passes[/]", Syntax(view.ir_after, "llvm", theme="ansi_dark", word_wrap=True)]
    if show_host:
        parts += ["[bold]host x86-64[/]", Syntax("\n".join(view.host), "nasm", theme="ansi_dark")]
    successors = ", ".join(f"{a:#x}" for a in view.successors) or "dynamic"
    title = f"block {view.address:#010x}  tier {view.tier}  executed {view.executions}x  -> {successors}"
    return Panel(Group(*parts), title=title, title_align="left")


def render(views, console, show_ir=True, show_host=True):
    for view in views:
        console.print(block_panel(view, show_ir, show_host))
