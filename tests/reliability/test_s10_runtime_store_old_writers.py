"""An older llmguard writing to a store this version made: its plain INSERT (layout 3,
copied here as it was) keeps one row per span, the last copy, with the content that
belongs to it; stores of layouts 3 and 4 are brought to the layout that allows it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from llmguard._core.records import Record
from llmguard.sinks import SQLiteSink, SQLiteStore
from llmguard.sinks.table import MIGRATIONS
from tests._helpers.old_writers import noted_record, old_write


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
    sink.emit([noted_record(1, "first"), noted_record(2, "first")])
    sink.close()
    old_write(path, [noted_record(2, "again"), noted_record(3, "new")])
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
    sink.emit([noted_record(1, "first"), noted_record(2, "first")])
    sink.close()
    old_write(
        path,
        [
            noted_record(2, "second"),
            noted_record(4, "four"),
            noted_record(4, "four-again"),
            noted_record(5, "five"),
        ],
    )
    assert _read(path) == {"01": "first", "02": "second", "04": "four-again", "05": "five"}
    assert _orphans(path) == 0
    sink = SQLiteSink(path)  # the new sink writes on after it
    sink.emit([noted_record(5, "five-new"), noted_record(6, "six"), noted_record(6, "six-again")])
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
        old_write(path, rows)


def test_a_layout_4_store_is_brought_to_the_layout_old_writers_can_use(tmp_path: Path) -> None:
    """A store a layout-4 sink made: a new sink's open migrates it, its rows kept,
    and an old writer's repeat is taken."""
    path = tmp_path / "store.db"
    _store_at(path, 4, [noted_record(1, "first"), noted_record(2, "first")])
    sink = SQLiteSink(path)
    sink.emit([noted_record(3, "three")])
    sink.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    conn.close()
    old_write(path, [noted_record(1, "again")])
    assert _read(path) == {"01": "again", "02": "first", "03": "three"}


def test_a_layout_3_store_with_copies_keeps_the_last_one_once_migrated(tmp_path: Path) -> None:
    """Layout 3 allowed copies; the migration keeps each span's last, and writes go on."""
    path = tmp_path / "store.db"
    _store_at(
        path, 3, [noted_record(1, "first"), noted_record(1, "second"), noted_record(2, "first")]
    )
    sink = SQLiteSink(path)
    sink.emit([noted_record(2, "again")])
    sink.close()
    assert _read(path) == {"01": "second", "02": "again"}
    old_write(path, [noted_record(2, "old-writer")])
    assert _read(path) == {"01": "second", "02": "old-writer"}
    assert _orphans(path) == 0
