"""Tests for ``llmguard show``, the command's entry point and its progress line."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from llmguard.cli import main
from llmguard.cli._progress import TerminalProgress
from tests._helpers.cli_stores import _write_trace


@pytest.mark.parametrize("suffix", [".db", ".jsonl"])
def test_show_draws_the_span_tree(
    suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The trace prints as a tree: the request, the guarded call, its two attempts and why."""
    path = tmp_path / f"store{suffix}"
    trace_id = _write_trace(path)
    assert main(["show", str(path), trace_id]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"trace {trace_id}")
    assert "service support" in lines[0]
    assert lines[1].startswith("request  [span]  ok  +0 µs")
    assert lines[2].startswith("└─ triage  [llm]  ok")
    assert "2 attempts  gpt-4o-mini  tokens" in lines[2]
    assert lines[3].startswith("   ├─ attempt 1  [attempt]  error")
    assert "invalid" in lines[3]
    assert lines[4] == "   │      $.urgency: Input should be less than or equal to 5 (got 9)"
    assert lines[5].startswith("   └─ attempt 2  [attempt]  ok")
    assert len(lines) == 6


def test_show_unknown_trace_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown trace id is an error naming it, exit status 2."""
    path = tmp_path / "store.db"
    _write_trace(path)
    assert main(["show", str(path), "0" * 32]) == 2
    err = capsys.readouterr().err
    assert err == f"llmguard: error: no trace '{'0' * 32}' in {path}\n"


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A missing argument or an unknown command is one line pointing at --help."""
    assert main(["show"]) == 2
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert err[0].startswith("llmguard show: error: the following arguments are required")
    assert err[1].startswith("llmguard: error: argument COMMAND: invalid choice: 'frobnicate'")


def test_unexpected_errors_are_one_line_unless_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bug shows one line and a hint; --traceback shows the traceback."""
    from llmguard.cli import _show

    def broken(records: object) -> str:
        raise RuntimeError("boom\nsecond line")

    path = tmp_path / "store.db"
    trace_id = _write_trace(path)
    monkeypatch.setattr(_show, "render", broken)
    assert main(["show", str(path), trace_id]) == 2
    assert capsys.readouterr().err == (
        "llmguard: error: unexpected RuntimeError: boom (rerun with --traceback)\n"
    )
    with pytest.raises(RuntimeError, match="boom"):
        main(["--traceback", "show", str(path), trace_id])


def test_console_script_runs(tmp_path: Path) -> None:
    """``python -m llmguard.cli`` runs the command and returns its exit status."""
    done = subprocess.run(
        [sys.executable, "-m", "llmguard.cli", "stats", str(tmp_path / "missing.db")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.endswith("missing.db: no such file\n")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_only_on_a_terminal_after_a_while() -> None:
    """Nothing is drawn in the first half second or off a terminal; the line is erased after."""
    now = [0.0]
    terminal = _Terminal()
    progress = TerminalProgress(terminal, clock=lambda: now[0])
    progress("loading x.jsonl", 0.1)
    assert terminal.getvalue() == ""
    now[0] = 1.0
    progress("loading x.jsonl", 0.5)
    assert terminal.getvalue() == "\rloading x.jsonl 50% 1.0 s"
    now[0] = 1.05
    progress("loading x.jsonl", 0.6)  # too soon to redraw
    now[0] = 2.0
    progress("querying x.db", None)
    assert terminal.getvalue().endswith("\r" + "querying x.db 2.0 s".ljust(25))
    progress.clear()
    assert terminal.getvalue().endswith("\r" + " " * len("querying x.db 2.0 s") + "\r")

    pipe = io.StringIO()
    quiet = TerminalProgress(pipe, clock=lambda: now[0] + 10)
    quiet("loading", 0.5)
    quiet.clear()
    assert pipe.getvalue() == ""
