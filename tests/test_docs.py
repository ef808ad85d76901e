"""The code in the documentation runs as written."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

import llmguard as lg

DOCS = Path(__file__).resolve().parents[1] / "docs"
# Pages written to run top to bottom. tracing.md still shows fragments (a REPL session,
# a sink skeleton) that are not meant to run as one script.
PAGES = [
    "agents.md",
    "configuration.md",
    "guard.md",
    "index.md",
    "otel.md",
    "privacy.md",
    "prompts.md",
    "replay.md",
    "testing.md",
    "tokens.md",
    "tools.md",
]
FENCE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


@pytest.mark.parametrize("page", PAGES)
def test_python_blocks_of_the_page_run(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every top-level python block of a docs page, run in order as one module, succeeds."""
    monkeypatch.chdir(tmp_path)
    code = "\n".join(FENCE.findall((DOCS / page).read_text()))
    assert code.strip(), f"{page} has no python block"
    # A real module, so that pydantic can resolve the annotations of models defined there.
    module = types.ModuleType(f"docs_{page[:-3]}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(code, str(DOCS / page), "exec"), module.__dict__)
    lg.flush(timeout=5)
