"""Bringing a store to layout 4 (one row per span) leaves alone the rows that lack a
trace or span id, which a records table not made by llmguard may hold: they were
grouped as one span, and all but the last of each trace deleted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from llmguard.sinks import SQLiteSink, table
from tests._helpers.cli_stores import _call


def _foreign_store(path: Path) -> None:
    """A layout-3 store whose records table takes NULL ids: three rows without a span
    id in one trace, one without a trace id, and one span written twice."""
    conn = sqlite3.connect(path, isolation_level=None)
    columns = ", ".join(f'"{column}"' for column in table.COLUMNS)
    conn.execute(f"CREATE TABLE records ({columns})")
    conn.execute("CREATE TABLE contents (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    conn.execute("CREATE INDEX records_trace_id ON records (trace_id)")
    conn.execute("PRAGMA user_version = 3")
    twice = table.row(_call(1, "a", 10.0))
    rows = [twice, twice]
    rows += [(None, "t" * 32, *table.row(_call(n, "b", 1.0))[2:]) for n in (2, 3, 4)]
    rows.append((table.row(_call(5, "c", 1.0))[0], None, *table.row(_call(5, "c", 1.0))[2:]))
    marks = ", ".join("?" * len(table.COLUMNS))
    conn.executemany(f"INSERT INTO records ({columns}) VALUES ({marks})", rows)
    conn.close()


def test_rows_without_ids_survive_the_migration(tmp_path: Path) -> None:
    """A sink opening the store migrates it: the span written twice is one row, and each
    row lacking an id is still there."""
    path = tmp_path / "foreign.db"
    _foreign_store(path)
    sink = SQLiteSink(path)
    sink.emit([_call(6, "d", 1.0)])
    sink.close()
    with sqlite3.connect(path) as conn:
        counts = conn.execute(
            "SELECT count(*), sum(span_id IS NULL), sum(trace_id IS NULL), "
            "sum(span_id = ?) FROM records",
            (f"{1:016x}",),
        ).fetchone()
        (version,) = conn.execute("PRAGMA user_version").fetchone()
    conn.close()
    assert version == len(table.MIGRATIONS)
    assert counts == (1 + 3 + 1 + 1, 3, 1, 1)
