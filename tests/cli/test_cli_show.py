"""Tests for ``llmguard show``, the command's entry point and its progress line."""

from __future__ import annotations

import io
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmguard._core.records import Record
from llmguard.cli import main
from llmguard.cli._progress import TerminalProgress
from llmguard.sinks import JSONLSink, SQLiteSink
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


def _span(index: int, trace_id: str, parent: int | None = None, **fields: Any) -> Record:
    values: dict[str, Any] = {
        "trace_id": trace_id,
        "span_id": f"{index:016x}",
        "parent_id": None if parent is None else f"{parent:016x}",
        "name": f"span {index}",
        "start": f"2026-01-01T10:00:0{index}.000000Z",
        "end": f"2026-01-01T10:00:0{index}.500000Z",
        "duration_ms": 500.0,
    }
    values.update(fields)
    return Record(**values)


def _store(path: Path, records: list[Record]) -> Path:
    sink = JSONLSink(path)
    sink.emit(records)
    sink.close()
    return path


def test_show_indents_the_lines_of_a_message_under_its_span(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A multi-line error and a multi-line validation message keep the tree's columns."""
    trace = "ab" * 16
    store = _store(
        tmp_path / "store.jsonl",
        [
            _span(1, trace),
            _span(
                2,
                trace,
                1,
                status="error",
                error_type="ValueError",
                error_message="first line\r\nsecond line\nthird line",
            ),
            _span(
                3,
                trace,
                2,
                kind="attempt",
                attempt={"errors": [{"path": "$.a", "message": "bad\nworse", "value": "x\ny"}]},
            ),
            _span(4, trace, 1),
        ],
    )
    assert main(["show", str(store), trace]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "span 1  [span]  ok  +0 µs  500 ms",
        "├─ span 2  [span]  error  +1 s  500 ms",
        "│      error: ValueError: first line",
        "│        second line",
        "│        third line",
        "│  └─ span 3  [attempt]  ok  +2 s  500 ms",
        "│         $.a: bad",
        "│           worse (got x",
        "│           y)",
        "└─ span 4  [span]  ok  +3 s  500 ms",
    ]


@pytest.fixture
def traces(tmp_path: Path) -> Path:
    """Three traces: two share the prefix 1234, one alone starts with 5678."""
    ids = ["1234" + "a" * 28, "1234" + "b" * 28, "5678" + "c" * 28]
    return _store(tmp_path / "store.jsonl", [_span(i + 1, t) for i, t in enumerate(ids)])


@pytest.mark.parametrize("prefix", ["5678", "5678ccc", "5678C", " 5678cc "])
def test_show_finds_a_trace_by_a_unique_prefix(
    prefix: str, traces: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A unique prefix of four characters or more shows its trace, as git's short hashes do."""
    assert main(["show", str(traces), prefix]) == 0
    assert capsys.readouterr().out.startswith(f"trace 5678{'c' * 28}  ")


def test_an_ambiguous_prefix_lists_the_candidates(
    traces: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A prefix several traces share exits 2 and names them."""
    assert main(["show", str(traces), "1234"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"llmguard: error: trace id prefix '1234' is ambiguous in {traces}: "
        f"1234{'a' * 28}, 1234{'b' * 28}\n"
    )


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("9999", "no trace '9999' in {path}"),
        ("123", "no trace '123' in {path} (a prefix of a trace id needs 4 characters or more)"),
        ("1234" + "a" * 29, "no trace '1234{a}' in {path}"),
    ],
)
def test_a_prefix_that_matches_nothing_or_is_too_short_exits_2(
    typed: str, message: str, traces: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No trace for the prefix, or fewer than four characters: one line, exit 2."""
    assert main(["show", str(traces), typed]) == 2
    expected = message.format(path=traces, a="a" * 29)
    assert capsys.readouterr().err == f"llmguard: error: {expected}\n"


def test_many_candidates_are_cut_to_five(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A prefix shared by many traces names five of them, then an ellipsis."""
    ids = [f"feed{index:028x}" for index in range(8)]
    store = _store(tmp_path / "store.jsonl", [_span(i + 1, t) for i, t in enumerate(ids)])
    assert main(["show", str(store), "feed"]) == 2
    err = capsys.readouterr().err
    assert err.endswith(f": {', '.join(ids[:5])}, ...\n")


def test_show_skips_a_row_that_holds_no_record_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A damaged row of an SQLite store is left out of the tree, and said once on stderr."""
    path = tmp_path / "store.db"
    sink = SQLiteSink(path)
    sink.emit([_span(1, "a" * 32), _span(2, "a" * 32, parent=1)])
    sink.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE records SET json = '[1, 2]' WHERE span_id = ?", (f"{2:016x}",))
    assert main(["show", str(path), "a" * 32]) == 0
    out, err = capsys.readouterr()
    assert "span 1" in out
    assert "span 2" not in out
    assert "skipped 1 row(s) holding no record" in err
