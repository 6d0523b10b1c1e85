"""The inspector's HTML report: one self-contained page, a row per block with four columns
side by side (guest + rewrite decisions, IR as generated, IR optimised, host code), an index
sorted hottest first, and links between chained blocks.

Example:
    Path("report.html").write_text(render_html(views, title="bench.elf"))
"""

import html

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import LlvmLexer, NasmLexer

_CSS = """
body { font-family: sans-serif; margin: 1em; background: #fafafa; }
table.index td, table.index th { padding: 2px 10px; text-align: left; }
section.block { border: 1px solid #ccc; background: white; margin: 1em 0; padding: 0.5em; }
section.block:target { border: 2px solid #d60; }
.columns { display: grid; grid-template-columns: 1.2fr 1fr 1fr 1fr; gap: 8px; }
.columns > div { overflow: auto; max-height: 32em; font-size: 12px; }
.columns h4 { margin: 0 0 4px 0; }
pre { margin: 0; }
.IDENT { color: #080; } .INLINE { color: #b80; } .CALLOUT { color: #c00; } .UNDEF { color: #c00; font-weight: bold; }
table.guest td { padding: 0 6px; font-family: monospace; vertical-align: top; }
"""


def _anchor(address):
    return f"b-{address:08x}"


def _code(text, lexer):
    return highlight(text, lexer, HtmlFormatter(noclasses=True, nowrap=False))


def _guest(view, known):
    rows = []
    for insn in view.insns:
        rows.append(f"<tr><td>{insn.address:#010x}</td><td>{html.escape(insn.text)}</td>"
                    f"<td class='{insn.cls}'>{insn.cls}</td><td title='{html.escape(insn.reason)}'>"
                    f"{html.escape(insn.reason)}</td></tr>")
    if view.callout:
        c = view.callout
        rows.append(f"<tr><td>{c['address']:#010x}</td><td>{html.escape(c['text'])}</td>"
                    f"<td class='{c['cls']}'>{c['cls']}</td><td>{html.escape(c['reason'])} "
                    f"(monitor ran it {c['count']}x)</td></tr>")
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
            f"<h3>block {v.address:#010x} &mdash; tier {v.tier}, executed {v.executions}x</h3>"
            f"<div class='columns'>"
            f"<div><h4>guest instructions and rewrite</h4>{_guest(v, known)}</div>"
            f"<div><h4>LLVM IR (generated)</h4>{_code(v.ir_before, LlvmLexer())}</div>"
            f"<div><h4>LLVM IR (optimised)</h4>{_code(v.ir_after, LlvmLexer())}</div>"
            f"<div><h4>host x86-64</h4><p>object code before relocation</p>{_code(chr(10).join(v.host), NasmLexer())}</div>"
            f"</div></section>")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1><p>{html.escape(summary)}</p>"
            f"<h2>blocks, hottest first</h2><table class='index'><tr><th>block</th><th>executions</th>"
            f"<th>tier</th><th>instructions</th><th>first</th></tr>{index}</table>"
            f"{''.join(sections)}</body></html>")
