"""The inspector: its data (decisions, IR, host code, counters) and its HTML report, rendered
in headless Chromium with a block navigated to and a screenshot kept in the test output."""

import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from tests.asmguest import machine_with
from vmm.inspect import inspect_image, inspect_machine
from vmm.inspect.html import render_html
from vmm.inspect.terminal import render
from vmm.options import BadOption

ROOT = Path(__file__).resolve().parents[2]
GUEST = """
    mov ecx, 3000
top:
    add eax, ecx
    dec ecx
    jnz top
    cli
    mov dx, 0x80
    out dx, al
    cpuid
    hlt
"""


@pytest.fixture(scope="module")
def views():
    m = machine_with("jit", GUEST)
    m.run()
    return inspect_machine(m)


def test_views_carry_every_part(views):
    hottest = views[0]
    assert hottest.executions >= 2999 and hottest.address == 0x1005
    assert [i.cls for i in hottest.insns] == ["IDENT", "IDENT", "IDENT"]
    assert hottest.successors == [0x100A, 0x1005]          # the fallthrough, the jnz target
    assert "define i32" in hottest.ir_before and "define i32" in hottest.ir_after
    assert any("ret" in line for line in hottest.host)
    tail = next(v for v in views if v.address == 0x100A)
    assert tail.insns[0].cls == "INLINE" and "IF" in tail.insns[0].reason       # cli
    assert tail.insns[-1].cls == "CALLOUT" and "calls the monitor" in tail.insns[-1].reason   # out dx, al
    assert tail.callout["cls"] == "CALLOUT" and tail.callout["count"] == 1          # cpuid


HELLO = ROOT / "examples" / "images" / "hello.elf"


def test_inspect_at_translates_without_running():
    report = inspect_image(str(HELLO), at=0x100000)
    assert report.machine.state.icount == 0 and len(report.views) == 1 and report.views[0].address == 0x100000
    assert report.result is None


def test_inspect_at_entry_and_outside_ram():
    report = inspect_image(str(HELLO), at="entry")
    assert [v.address for v in report.views] == [0x10000C]
    with pytest.raises(BadOption, match="outside guest RAM"):
        inspect_image(str(HELLO), at=0x90000000, memory_mb=4)


def test_top_limits_the_html_report(tmp_path):
    """--top K writes K blocks, not every block: the size grows with K, not with the guest."""
    sizes, totals = {}, set()
    for top in (1, 3):
        out = tmp_path / f"top{top}.html"
        done = subprocess.run([sys.executable, "-m", "vmm", "inspect", str(HELLO), "--top", str(top), "--html",
                               str(out), "--no-ir"], capture_output=True, timeout=120, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        page = out.read_text()
        assert page.count("<section class='block'") == top
        written = re.search(rb"\((\d+) of (\d+) blocks, --top", done.stderr)
        assert written and int(written[1]) == top, done.stderr
        totals.add(int(written[2]))
        sizes[top] = len(page)
    assert sizes[1] < sizes[3] < 200_000
    assert len(totals) == 1 and totals.pop() > 40          # the same guest: some 50 blocks each time


def test_host_offsets_are_not_lexer_errors(views):
    """Offsets sit in a gutter: no token of the highlighted host code is an error (the NASM
    lexer reads "00a0" as one), and every offset is still shown."""
    from pygments.lexers import NasmLexer
    from pygments.token import Error
    hottest = views[0]
    code = "\n".join(insn for _, insn in hottest.host_lines())
    assert not [v for t, v in NasmLexer().get_tokens(code) if t in Error]
    page = render_html([hottest])
    assert "class='err'" not in page and 'class="err"' not in page
    assert all(offset in page for offset, _ in hottest.host_lines())


def test_reasons_once_per_block_and_ir_label_by_tier(views):
    hottest = views[0]
    assert hottest.reasons()[0] == hottest.insns[0].reason and hottest.reasons()[1:] == ["", ""]
    tier0 = next(v for v in views if v.tier == 0)
    label, ir = tier0.ir_run()
    assert "as generated" in label and ir == tier0.ir_before
    label, ir = replace(tier0, tier=2).ir_run()
    assert "after the tier-2 passes" in label and ir == tier0.ir_after


def test_html_report_in_headless_chromium(views, tmp_path):
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "apt-get install chromium chromium-driver (.ci/run installs them)"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    page = tmp_path / "report.html"
    page.write_text(render_html(views, title="inspector test"))
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,900",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(driver), options=options)
    try:
        browser.get(page.as_uri())
        assert browser.title == "inspector test"
        assert len(browser.find_elements(By.CSS_SELECTOR, "section.block")) == len(views)
        target = next(v for v in views if v.address == 0x100A)
        browser.find_element(By.LINK_TEXT, f"{target.address:#010x}").click()
        assert browser.execute_script("return location.hash") == "#b-0000100a"
        top = browser.execute_script("return document.getElementById('b-0000100a').getBoundingClientRect().top")
        assert browser.execute_script("return window.scrollY") > 0     # the link scrolled the page
        assert -1 < top < browser.execute_script("return window.innerHeight")   # to the block (subpixel)
        columns = browser.find_elements(By.CSS_SELECTOR, "#b-0000100a .columns > div")
        assert [c.find_element(By.TAG_NAME, "h4").text for c in columns] == [
            "guest instructions and rewrite", "LLVM IR (generated)", "LLVM IR (optimised)", "host x86-64"]
        shot = ROOT / "out" / "inspector.png"
        shot.parent.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        print(f"screenshot: {shot}")
    finally:
        browser.quit()


def test_terminal_view_shows_memory_operands_and_every_part():
    m = machine_with("jit", "mov dword ptr [esi + 8], eax\nadd eax, dword ptr [esi + 8]\ncli\nhlt")
    m.reg_write("esi", 0x2000)
    m.run()
    console = Console(record=True, width=200)
    render(inspect_machine(m), console)
    text = console.export_text()
    assert "mov dword ptr [esi + 8], eax" in text and "add eax, dword ptr [esi + 8]" in text
    assert "IDENT" in text and "INLINE" in text and "LLVM IR" in text and "host x86-64" in text
