"""The code in the documentation runs as written."""

from __future__ import annotations

import re
import signal
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

import llmguard as lg
from tests._helpers.redis_server import RedisServer, redis_server_or_skip

DOCS = Path(__file__).resolve().parents[1] / "docs"
# Pages written to run top to bottom, offline.
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
    "tracing.md",
]
# Pages that need a Redis server: they read its URL from REDIS_URL.
REDIS_PAGES = ["budgets_shared.md"]
# A python block, also one indented under a list item (its body is then dedented).
FENCE = re.compile(r"^( *)```python\n(.*?)^\1```", re.DOTALL | re.MULTILINE)


def run_page(page: str, directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the python blocks of ``page`` in order, as one module, in ``directory``."""
    monkeypatch.chdir(directory)
    blocks = [textwrap.dedent(body) for _, body in FENCE.findall((DOCS / page).read_text())]
    code = "\n".join(blocks)
    assert code.strip(), f"{page} has no python block"
    # A real module, so that pydantic can resolve the annotations of models defined there.
    module = types.ModuleType(f"docs_{page[:-3]}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    # A page may install a signal handler, as an application would; the tests keep theirs.
    handler = signal.getsignal(signal.SIGTERM)
    try:
        exec(compile(code, str(DOCS / page), "exec"), module.__dict__)
        lg.flush(timeout=5)
    finally:
        signal.signal(signal.SIGTERM, handler)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own (skipped where it is missing, except in CI)."""
    directory = tmp_path / "redis"
    directory.mkdir()
    yield from redis_server_or_skip(directory)


@pytest.mark.parametrize("page", PAGES)
def test_python_blocks_of_the_page_run(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every python block of a docs page, run in order as one module, succeeds."""
    run_page(page, tmp_path, monkeypatch)


@pytest.mark.parametrize("page", REDIS_PAGES)
def test_python_blocks_of_the_redis_page_run(
    page: str, redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The python blocks of a page about shared stores succeed against a real Redis."""
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    run_page(page, tmp_path, monkeypatch)
