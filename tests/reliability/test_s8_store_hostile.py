"""Attacks on the commands by a store not written by llmguard: a damaged layout, values
of the wrong type, numbers no call can have."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from llmguard.cli import main
from llmguard.sinks import SQLiteSink
from tests._helpers.cli_stores import _records

_COMMANDS = [
    ["stats"],
    ["stats", "--by", "model"],
    ["drift", "--baseline", "2026-01-01..2026-01-02", "--current", "2026-01-02..2026-01-04"],
    ["report", "-o", "{out}"],
]


def _store(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    sink = SQLiteSink(path)
    sink.emit(_records())
    sink.close()
    return path


def _run(command: list[str], path: Path, tmp_path: Path) -> int:
    argv = [part.replace("{out}", str(tmp_path / "out.html")) for part in command]
    return main([argv[0], str(path), *argv[1:]])


@pytest.mark.parametrize("command", _COMMANDS, ids=" ".join)
@pytest.mark.parametrize(
    ("damage", "named"),
    [
        ('ALTER TABLE records DROP COLUMN "model"', "model"),
        ('ALTER TABLE records DROP COLUMN "duration_ms"', "duration_ms"),
        ("ALTER TABLE records DROP COLUMN repair", "repair"),
        ("DROP TABLE contents", "contents"),
    ],
)
def test_a_store_missing_part_of_its_layout_is_named(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    damage: str,
    named: str,
) -> None:
    """A store whose ``records`` table lacks a column, or that lacks ``contents``, is
    refused with exit status 2 and one line naming what is missing, not an unexpected
    SQLite error."""
    path = _store(tmp_path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP INDEX IF EXISTS records_repaired")
        conn.execute(damage)
    conn.close()
    assert _run(command, path, tmp_path) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unexpected" not in err
    assert "is not an llmguard store" in err
    assert named in err


def test_a_records_table_of_another_app_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another program's database with a table called ``records`` is not a store: the
    error lists the columns it lacks."""
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE records (id INTEGER PRIMARY KEY, start TEXT)")
        conn.execute("INSERT INTO records (start) VALUES ('2026-01-01')")
    conn.close()
    assert main(["stats", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"llmguard: error: '{path}' is not an llmguard store: ")
    assert "records.span_id" in err
    assert "records.name" in err
