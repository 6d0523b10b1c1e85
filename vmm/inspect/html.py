"""The inspector's HTML report: one self-contained page, a row per block with four columns
side by side (guest + rewrite decisions, IR as generated, IR optimised, host code), an index
sorted hottest first, and links between chained blocks.  It holds the views it is given (the
CLI passes the --top hottest); syntax colours come from one shared stylesheet, and host-code
offsets sit in a gutter outside the highlighter (to NASM's lexer "00a0" is an error token).

Example:
    Path("report.html").write_text(render_html(views, title="bench.elf"))
"""

import html

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import LlvmLexer, NasmLexer

_FORMATTER = HtmlFormatter(nowrap=True)
_CSS = """
body { font-family: sans-serif; margin: 1em; background: #fafafa; }
table.index td, table.index th { padding: 2px 10px; text-align: left; }
section.block { border: 1px solid #ccc; background: white; margin: 1em 0; padding: 0.5em; }
section.block:target { border: 2px solid #d60; }
.columns { display: grid; grid-template-columns: 1.2fr 1fr 1fr 1fr; gap: 8px; }
.columns > div { overflow: auto; max-height: 32em; font-size: 12px; }
.columns h4 { margin: 0 0 4px 0; }
pre { margin: 0; }
.host { display: flex; gap: 1em; } .gutter { color: #888; }
.IDENT { color: #080; } .INLINE { color: #b80; } .CALLOUT { color: #c00; } .UNDEF { color: #c00; font-weight: bold; }
table.guest td { padding: 0 6px; font-family: monospace; vertical-align: top; }
"""


def _anchor(address):
    return f"b-{address:08x}"


def _code(text, lexer):
    return f"<pre class='highlight'>{highlight(text, lexer, _FORMATTER)}</pre>"


def _host(view):
    lines = view.host_lines()
    offsets = "\n".join(offset for offset, _ in lines)
    return (f"<div class='host'><pre class='gutter'>{offsets}</pre>"
            f"{_code(chr(10).join(insn for _, insn in lines), NasmLexer())}</div>")


def _row(address, text, cls, reason):
    return (f"<tr><td>{address:#010x}</td><td>{html.escape(text)}</td><td class='{cls}'>{cls}</td>"
            f"<td>{html.escape(reason)}</td></tr>")


def _guest(view, known):
    rows = [_row(i.address, i.text, i.cls, reason) for i, reason in zip(view.insns, view.reasons())]
    if view.callout:
        c = view.callout
        rows.append(_row(c["address"], c["text"], c["cls"], f"{c['reason']} (monitor ran it {c['count']}x)"))
    links = " ".join(f"<a href='#{_anchor(a)}'>{a:#x}</a>" if a in known else f"{a:#x}" for a in view.successors)
    return (f"<table class='guest'>{''.join(rows)}</table>"
            f"<p>chains to: {links or 'dynamic target (dispatcher)'}</p>")


def render_html(views, title="vmm inspector", summary=""):
    known = {v.address for v in views}
    index = "".join(
        f"<tr><td><a href='#{_anchor(v.address)}'>{v.address:#010x}</a></td><td>{v.executions}</td>"
        f"<td>{v.tier}</td><td>{len(v.insns)}</td><td>{html.escape(v.insns[0].text)}</td></tr>" for v in views)
    sections = []
    for v in views:
        sections.append(
            f"<section class='block' id='{_anchor(v.address)}'>"
            f"<h3>block {v.address:#010x} &mdash; tier {v.tier} (runs the {'optimised' if v.tier == 2 else 'generated'}"
            f" IR), executed {v.executions}x</h3>"
            f"<div class='columns'>"
            f"<div><h4>guest instructions and rewrite</h4>{_guest(v, known)}</div>"
            f"<div><h4>LLVM IR (generated)</h4>{_code(v.ir_before, LlvmLexer())}</div>"
            f"<div><h4>LLVM IR (optimised)</h4>{_code(v.ir_after, LlvmLexer())}</div>"
            f"<div><h4>host x86-64</h4><p>object code before relocation</p>{_host(v)}</div>"
            f"</div></section>")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}{_FORMATTER.get_style_defs('.highlight')}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>{html.escape(summary)}</p>"
            f"<p>Rewrite reasons are given once per block, on the first instruction they apply to.</p>"
            f"<h2>blocks, hottest first</h2><table class='index'><tr><th>block</th><th>executions</th>"
            f"<th>tier</th><th>instructions</th><th>first</th></tr>{index}</table>"
            f"{''.join(sections)}</body></html>")
