"""A command that fails because every record it read held a figure no call can have
("no calls", "no trace") says so: the warning counting those records came after the
command's output, and a command ending in an error printed none, so a store full of
calls answered "no calls" with no word of why."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from llmguard.cli import main
from llmguard.sinks import JSONLSink, SQLiteSink
from tests._helpers.cli_stores import _records


def _weightless(tmp_path: Path, form: str) -> Path:
    """Every record with a weight of -1, in an SQLite store or a JSON Lines file."""
    if form == "sqlite":
        path = tmp_path / "calls.db"
        sink = SQLiteSink(path)
        sink.emit(_records())
        sink.close()
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE records SET sample_weight = -1")
        conn.close()
        return path
    path = tmp_path / "calls.jsonl"
    lines = JSONLSink(path)
    lines.emit([dataclasses.replace(r, sample_weight=-1.0) for r in _records()])
    lines.close()
    return path


@pytest.mark.parametrize("form", ["sqlite", "jsonl"])
@pytest.mark.parametrize(
    ("command", "error"),
    [
        (["report", "-o", "{out}"], "no calls"),
        (["show", "00000000000000000000000000000001"], "no trace"),
    ],
)
def test_a_command_failing_for_want_of_records_names_those_left_out(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    form: str,
    command: list[str],
    error: str,
) -> None:
    """The warning counting the records left out comes before the command's error."""
    path = _weightless(tmp_path, form)
    argv = [command[0], str(path), *(a.format(out=tmp_path / "r.html") for a in command[1:])]
    assert main(argv) == 2
    lines = capsys.readouterr().err.splitlines()
    warning = next(i for i, line in enumerate(lines) if "whose figures no call can have" in line)
    failure = next(i for i, line in enumerate(lines) if "error" in line and error in line)
    assert warning < failure
    assert "sample_weight = -1.0" in lines[warning]
