"""Attacks on `SQLiteSink` by the file it is given: another program's SQLite database."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

import llmguard as lg
from llmguard.exceptions import ConfigurationError
from llmguard.sinks import SQLiteSink


def _record() -> lg.Record:
    return lg.Record(
        trace_id="a" * 32,
        span_id="b" * 16,
        name="step",
        start="2026-01-01T00:00:00.000000Z",
        end="2026-01-01T00:00:01.000000Z",
        duration_ms=1000.0,
    )


def _database(path: Path, *statements: str) -> Path:
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()
    return path


@pytest.mark.parametrize(
    ("statements", "named"),
    [
        (["CREATE TABLE records (id INTEGER PRIMARY KEY, note TEXT)"], "records"),
        (["CREATE TABLE orders (id INTEGER PRIMARY KEY)", "PRAGMA user_version = 7"], "orders"),
        (["CREATE TABLE users (id INTEGER PRIMARY KEY)"], "users"),
    ],
    ids=["a records table of its own", "its own schema version", "other tables"],
)
def test_another_programs_database_is_refused_at_construction(
    tmp_path: Path, statements: list[str], named: str
) -> None:
    """A database holding another program's tables is refused when the sink is made,
    naming what it holds, instead of every batch failing (``table records already
    exists``, ``no such table: records``) or llmguard's tables and schema version being
    written into the other program's file."""
    path = _database(tmp_path / "app.db", *statements)
    before = path.read_bytes()
    with pytest.raises(ConfigurationError) as caught:
        SQLiteSink(path)
    message = str(caught.value)
    assert message.startswith(f"SQLiteSink({str(path)!r}): ")
    assert named in message
    assert path.read_bytes() == before


def test_an_empty_database_and_an_llmguard_store_are_taken(tmp_path: Path) -> None:
    """An empty SQLite file, and a store an earlier sink wrote, are still accepted."""
    empty = _database(tmp_path / "empty.db")
    store = tmp_path / "store.db"
    first = SQLiteSink(store)
    first.emit([_record()])
    first.close()
    for path in (empty, store):
        sink = SQLiteSink(path)
        # Another span: the same one again would replace the first one's row.
        sink.emit([dataclasses.replace(_record(), span_id="c" * 16)])
        sink.close()
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT count(*) FROM records").fetchone() == (2,)
    conn.close()
