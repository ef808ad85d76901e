"""An older llmguard writing to a store this version made: its plain INSERT (layout 3,
copied here as it was) keeps one row per span, the last copy, with the content that
belongs to it; stores of layouts 3 and 4 are brought to the layout that allows it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from llmguard._core.records import Record
from llmguard.sinks import SQLiteSink, SQLiteStore
from llmguard.sinks.table import COLUMNS, MIGRATIONS, row

# What llmguard wrote with at layout 3: the row without its JSON, then the JSON in
# contents under the ids it numbered ahead (the largest id in records, plus one, up).
_QUOTED = ", ".join(f'"{column}"' for column in COLUMNS)
OLD_INSERT = f"INSERT INTO records ({_QUOTED}) VALUES ({', '.join('?' * (len(COLUMNS) - 1))}, '')"
OLD_CONTENT = "INSERT INTO contents (id, body) VALUES (?, ?)"


def _record(span: int, note: str, trace: int = 1) -> Record:
    return Record(
        trace_id=f"{trace:032x}",
        span_id=f"{span:016x}",
        name=f"span-{span}",
        kind="llm",
        start=f"2026-01-01T00:00:{span:02d}.000000Z",
        end=f"2026-01-01T00:00:{span:02d}.500000Z",
        duration_ms=500.0,
        metadata={"note": note},
    )


def _old_write(path: Path, records: list[Record]) -> None:
    """One batch as a layout-3 SQLiteSink wrote it."""
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


def _read(path: Path) -> dict[str, str]:
    with SQLiteStore(path) as store:
        found = list(store.records())
        assert store.count() == len(found)
    return {r.span_id[-2:]: r.metadata["note"] for r in found}


def _orphans(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM contents WHERE id NOT IN (SELECT rowid FROM records)"
        ).fetchone()
    conn.close()
    return int(count)


def test_an_old_writer_repeating_a_span_of_the_store_keeps_the_last_copy(tmp_path: Path) -> None:
    """The old INSERT of a span the store holds failed the whole batch on the unique
    index; now the later copy replaces the row, and its neighbours are written."""
    path = tmp_path / "store.db"
    sink = SQLiteSink(path)
    sink.emit([_record(1, "first"), _record(2, "first")])
    sink.close()
    _old_write(path, [_record(2, "again"), _record(3, "new")])
    assert _read(path) == {"01": "first", "02": "again", "03": "new"}
    assert _orphans(path) == 0


def test_an_old_batch_holding_a_span_twice_keeps_its_last_copy_and_content(
    tmp_path: Path,
) -> None:
    """A span twice in one old batch, the store's last row among them: each row keeps
    the content written for it (a trigger before the insert would hand the replaced
    row's id to the next row and shift every content after it)."""
    path = tmp_path / "store.db"
    sink = SQLiteSink(path)
    sink.emit([_record(1, "first"), _record(2, "first")])
    sink.close()
    _old_write(
        path,
        [_record(2, "second"), _record(4, "four"), _record(4, "four-again"), _record(5, "five")],
    )
    assert _read(path) == {"01": "first", "02": "second", "04": "four-again", "05": "five"}
    assert _orphans(path) == 0
    sink = SQLiteSink(path)  # the new sink writes on after it
    sink.emit([_record(5, "five-new"), _record(6, "six"), _record(6, "six-again")])
    sink.close()
    assert _read(path) == {
        "01": "first",
        "02": "second",
        "04": "four-again",
        "05": "five-new",
        "06": "six-again",
    }
    assert _orphans(path) == 0


def _store_at(path: Path, version: int, rows: list[Record]) -> None:
    """A store as the llmguard of ``version`` made it, holding ``rows`` (written with
    the old INSERT, copies and all when the layout allows them)."""
    conn = sqlite3.connect(path, isolation_level=None)
    for number in range(version):
        MIGRATIONS[number](conn)
    conn.execute(f"PRAGMA user_version = {version:d}")
    conn.close()
    if rows:
        _old_write(path, rows)


def test_a_layout_4_store_is_brought_to_the_layout_old_writers_can_use(tmp_path: Path) -> None:
    """A store a layout-4 sink made: a new sink's open migrates it, its rows kept,
    and an old writer's repeat is taken."""
    path = tmp_path / "store.db"
    _store_at(path, 4, [_record(1, "first"), _record(2, "first")])
    sink = SQLiteSink(path)
    sink.emit([_record(3, "three")])
    sink.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    conn.close()
    _old_write(path, [_record(1, "again")])
    assert _read(path) == {"01": "again", "02": "first", "03": "three"}


def test_a_layout_3_store_with_copies_keeps_the_last_one_once_migrated(tmp_path: Path) -> None:
    """Layout 3 allowed copies; the migration keeps each span's last, and writes go on."""
    path = tmp_path / "store.db"
    _store_at(path, 3, [_record(1, "first"), _record(1, "second"), _record(2, "first")])
    sink = SQLiteSink(path)
    sink.emit([_record(2, "again")])
    sink.close()
    assert _read(path) == {"01": "second", "02": "again"}
    _old_write(path, [_record(2, "old-writer")])
    assert _read(path) == {"01": "second", "02": "old-writer"}
    assert _orphans(path) == 0
