"""Type checking: the examples in tests/typing pass mypy --strict, and misuse is caught."""

from __future__ import annotations

import contextlib
import shutil
import textwrap
from pathlib import Path

import pytest
from mypy import api as mypy_api

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for the module, so the second run reuses the first one's analysis.

    It starts as a copy of the checkout's own cache when there is one (CI's
    ``mypy --strict tests/typing/`` step has just written it): mypy checks every entry
    against the source it was made from and analyses again whatever changed, so a copy
    only spares it the work already done. The copy keeps the checkout's cache untouched.
    """
    cache = tmp_path_factory.mktemp("mypy-cache") / "cache"
    found = ROOT / ".mypy_cache"
    if found.is_dir():
        # A file another mypy replaced meanwhile is analysed again, as without the copy.
        with contextlib.suppress(shutil.Error, OSError):
            shutil.copytree(found, cache, dirs_exist_ok=True)
    return cache


def run_mypy(monkeypatch: pytest.MonkeyPatch, cache: Path, *targets: Path) -> tuple[str, int]:
    monkeypatch.setenv("MYPYPATH", str(ROOT / "src"))
    stdout, stderr, status = mypy_api.run(
        [
            "--strict",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(cache),
            "--no-error-summary",
            "--hide-error-context",
            *map(str, targets),
        ]
    )
    assert not stderr
    return stdout, status


def test_typing_examples_pass_mypy_strict(
    monkeypatch: pytest.MonkeyPatch, mypy_cache: Path
) -> None:
    """Every example in tests/typing type-checks under mypy --strict."""
    stdout, status = run_mypy(monkeypatch, mypy_cache, ROOT / "tests" / "typing")
    assert (stdout, status) == ("", 0)


def test_traced_function_rejects_wrong_argument_type(
    monkeypatch: pytest.MonkeyPatch, mypy_cache: Path, tmp_path: Path
) -> None:
    """Calling a traced `def f(x: int) -> int` with a str is a mypy error: the signature is kept."""
    snippet = tmp_path / "misuse.py"
    snippet.write_text(
        textwrap.dedent(
            """
            import llmguard as lg

            @lg.trace
            def f(x: int) -> int:
                return x

            @lg.trace(name="g")
            def g(x: int) -> int:
                return x

            f(1)
            g(1)
            f("one")
            g("one")
            """
        )
    )
    stdout, status = run_mypy(monkeypatch, mypy_cache, snippet)
    assert status == 1
    errors = sorted(line for line in stdout.splitlines() if ": error:" in line)
    assert len(errors) == 2
    assert all("[arg-type]" in line and '"str"' in line and '"int"' in line for line in errors)
    assert "misuse.py:14:" in errors[0]
    assert "misuse.py:15:" in errors[1]
