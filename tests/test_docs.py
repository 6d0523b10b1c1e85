"""The documentation's examples run: every ```python block of docs/api.md, in order, in one
namespace, from the repository's root (as a reader would paste them)."""

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_api_examples_run(capsys):
    blocks = BLOCK.findall((ROOT / "docs" / "api.md").read_text())
    assert len(blocks) >= 4
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        namespace = {}
        for n, block in enumerate(blocks):
            exec(compile(block, f"docs/api.md block {n + 1}", "exec"), namespace)
    finally:
        os.chdir(here)
    assert "guest memory error" in capsys.readouterr().out


def test_docs_stay_in_the_repository():
    """The README links documents inside the repository only, and they exist."""
    readme = (ROOT / "README.md").read_text()
    assert "../" not in readme and "DESIGN.md" not in readme
    for link in re.findall(r"\]\(([^)#]+)\)", readme):
        if "://" not in link:
            assert (ROOT / link).exists(), link
