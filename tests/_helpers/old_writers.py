"""What an older llmguard (store layouts 3 and 4) wrote a batch with, copied as it was:
the rows without their JSON, then the JSON in ``contents`` under the ids it numbered
ahead (the largest id in ``records``, plus one, up). Tests write with these statements
to check that a store of this version keeps what an older writer sends."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from llmguard._core.records import Record
from llmguard.sinks.table import COLUMNS, row

_QUOTED = ", ".join(f'"{column}"' for column in COLUMNS)
OLD_INSERT = f"INSERT INTO records ({_QUOTED}) VALUES ({', '.join('?' * (len(COLUMNS) - 1))}, '')"
OLD_CONTENT = "INSERT INTO contents (id, body) VALUES (?, ?)"


def noted_record(span: int, note: str, trace: int = 1) -> Record:
    """A small record of one span, told apart by the note in its metadata."""
    return Record(
        trace_id=f"{trace:032x}",
        span_id=f"{span:016x}",
        name=f"span-{span}",
        kind="llm",
        start=f"2026-01-01T00:{span // 60:02d}:{span % 60:02d}.000000Z",
        end=f"2026-01-01T00:{span // 60:02d}:{span % 60:02d}.500000Z",
        duration_ms=500.0,
        metadata={"note": note},
    )


def old_write(path: Path, records: list[Record]) -> None:
    """One batch as a layout-3 (or layout-4) SQLiteSink wrote it."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        (last,) = conn.execute("SELECT max(rowid) FROM records").fetchone()
        first = 1 if last is None else last + 1
        rows = [row(record) for record in records]
        conn.executemany(OLD_INSERT, [made[:-1] for made in rows])
        conn.executemany(OLD_CONTENT, [(first + at, made[-1]) for at, made in enumerate(rows)])
        conn.execute("COMMIT")
    finally:
        conn.close()
