"""Layout 5 (one row per span kept by triggers) attacked: batches crossing the forty-row
statements with a span repeated inside and across them, old writers' statements in
turn with the sink's, a batch that fails halfway (disk full, a value too large), and
migrations interrupted or run by two connections at once."""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmguard._core.records import Record
from llmguard.sinks import SQLiteSink, SQLiteStore, read_records, table
from llmguard.sinks.table import MIGRATIONS, migrate
from tests._helpers.old_writers import noted_record, old_write


def _state(path: Path) -> dict[str, str]:
    """span -> note, as the store reads, after checking it holds one row per span and
    each row's content is that span's."""
    conn = sqlite3.connect(path)
    try:
        pairs = conn.execute(
            "SELECT r.span_id, c.body FROM records AS r LEFT JOIN contents AS c ON c.id = r.rowid"
        ).fetchall()
        (orphans,) = conn.execute(
            "SELECT count(*) FROM contents WHERE id NOT IN (SELECT rowid FROM records)"
        ).fetchone()
    finally:
        conn.close()
    assert orphans == 0
    assert len({span for span, _ in pairs}) == len(pairs)
    for span, body in pairs:
        assert body is not None
        assert f'"span_id":"{span}"' in body
    with SQLiteStore(path) as store:
        found = list(store.records())
        assert store.count() == len(found)
    assert [(r.trace_id, r.span_id) for r in read_records(path)] == [
        (r.trace_id, r.span_id) for r in found
    ]
    return {r.span_id: r.metadata["note"] for r in found}


_BATCHES = st.lists(
    st.tuples(
        st.sampled_from(["sink", "old"]),
        st.lists(st.integers(0, 59), min_size=1, max_size=95),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=25, deadline=None)
@given(batches=_BATCHES)
def test_any_mix_of_writers_keeps_the_last_copy_of_each_span(
    batches: list[tuple[str, list[int]]],
) -> None:
    """Batches of up to 95 records (three statements of the sink's), spans repeated
    within a statement, across statements and across batches, written in turn by the
    sink and by an older llmguard's statements: each span reads as its last copy, with
    that copy's content, and no content is left without its row."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "store.db"
        sink = SQLiteSink(path)
        sink.emit([noted_record(99, "made")])  # the store exists from the sink's first batch
        expected = {f"{99:016x}": "made"}
        for number, (writer, spans) in enumerate(batches):
            records = [noted_record(span, f"{number}.{at}") for at, span in enumerate(spans)]
            if writer == "sink":
                sink.emit(records)
            else:
                old_write(path, records)
            expected.update((r.span_id, r.metadata["note"]) for r in records)
        sink.close()
        assert _state(path) == expected


def test_a_batch_the_disk_cannot_hold_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    """A full disk (a page limit) in the middle of a batch of forty records and more:
    the batch fails whole, the store keeps what it held, and the next batch after the
    space came back is written under the right ids."""
    path = tmp_path / "store.db"
    sink = SQLiteSink(path)
    sink.emit([noted_record(span, "first") for span in range(10)])
    conn = sink._connection()
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.execute(f"PRAGMA max_page_count = {pages + 2:d}")
    big = [noted_record(span, "x" * 20_000) for span in range(5, 60)]
    with pytest.raises(sqlite3.DatabaseError):
        sink.emit(big)
    assert not conn.in_transaction
    conn.execute("PRAGMA max_page_count = 1073741823")
    sink.emit([noted_record(3, "again"), noted_record(70, "new")])
    sink.close()
    expected = {f"{span:016x}": "first" for span in range(10)}
    expected.update({f"{3:016x}": "again", f"{70:016x}": "new"})
    assert _state(path) == expected


@pytest.mark.skipif(
    sys.version_info < (3, 11), reason="sqlite3.Connection.setlimit came in Python 3.11"
)
def test_a_value_too_large_fails_its_batch_whole(tmp_path: Path) -> None:
    """One record of forty whose JSON is past SQLite's length limit: no row of the
    batch is kept, nor any content, and the store writes on."""
    path = tmp_path / "store.db"
    sink = SQLiteSink(path)
    sink.emit([noted_record(1, "first")])
    conn = sink._connection()
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 5_000)
    batch = [noted_record(span, "ok") for span in range(40)]
    batch[25] = noted_record(25, "y" * 6_000)
    with pytest.raises(sqlite3.DataError):
        sink.emit(batch)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1_000_000_000)
    sink.emit([noted_record(2, "two")])
    sink.close()
    assert _state(path) == {f"{1:016x}": "first", f"{2:016x}": "two"}


def _layout(path: Path, version: int, records: list[Record]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for number in range(version):
        MIGRATIONS[number](conn)
    conn.execute(f"PRAGMA user_version = {version:d}")
    conn.close()
    if records:
        old_write(path, records)


@pytest.mark.parametrize("version", [3, 4])
def test_a_migration_stopped_halfway_leaves_the_old_layout_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    """The process dies (an exception here) after the trigger migration's first step:
    nothing of it stays, the store still reads at its old version, and the next sink
    migrates it and writes."""
    path = tmp_path / "store.db"
    copies = [noted_record(1, "a"), noted_record(2, "a")] + (
        [noted_record(1, "b")] if version == 3 else []
    )
    _layout(path, version, copies)
    real = MIGRATIONS[4]

    def dies(conn: sqlite3.Connection) -> None:
        conn.execute("DROP INDEX IF EXISTS records_span")
        raise KeyboardInterrupt

    monkeypatch.setattr(table, "MIGRATIONS", (*MIGRATIONS[:4], dies))
    with pytest.raises(KeyboardInterrupt):
        SQLiteSink(path).emit([noted_record(3, "lost")])
    monkeypatch.setattr(table, "MIGRATIONS", (*MIGRATIONS[:4], real))
    conn = sqlite3.connect(path)
    (found,) = conn.execute("PRAGMA user_version").fetchone()
    conn.close()
    assert found == version
    with SQLiteStore(path) as store:
        assert {r.span_id[-1]: r.metadata["note"] for r in store.records()} == {
            "1": "b" if version == 3 else "a",
            "2": "a",
        }
    sink = SQLiteSink(path)
    sink.emit([noted_record(3, "three"), noted_record(2, "again")])
    sink.close()
    old_write(path, [noted_record(1, "old")])
    assert _state(path) == {f"{1:016x}": "old", f"{2:016x}": "again", f"{3:016x}": "three"}


def test_two_connections_migrating_at_once_migrate_once(tmp_path: Path) -> None:
    """Two sinks open a layout-3 store with copies at the same moment: one migrates,
    the other finds the layout done; both batches are kept."""
    path = tmp_path / "store.db"
    _layout(path, 3, [noted_record(1, "a"), noted_record(1, "b"), noted_record(2, "a")])
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(sink: SQLiteSink, records: list[Record]) -> None:
        try:
            barrier.wait(10)
            sink.emit(records)
        except BaseException as exc:  # pragma: no cover - the failure itself
            errors.append(exc)

    sinks = [SQLiteSink(path), SQLiteSink(path)]
    threads = [
        threading.Thread(
            target=write, args=(sinks[0], [noted_record(3, "x"), noted_record(2, "x")])
        ),
        threading.Thread(target=write, args=(sinks[1], [noted_record(4, "y")])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for sink in sinks:
        sink.close()
    assert errors == []
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    triggers = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")
    assert triggers.fetchone()[0] == 2
    conn.close()
    assert _state(path) == {
        f"{1:016x}": "b",
        f"{2:016x}": "x",
        f"{3:016x}": "x",
        f"{4:016x}": "y",
    }


def test_a_migrated_store_migrates_no_further(tmp_path: Path) -> None:
    """migrate on a store at the current layout (and one a newer llmguard made) changes
    nothing: the triggers are made once."""
    path = tmp_path / "store.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn) == len(MIGRATIONS)
    assert migrate(conn) == len(MIGRATIONS)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1:d}")
    assert migrate(conn) == len(MIGRATIONS) + 1
    (triggers,) = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
    ).fetchone()
    conn.close()
    assert triggers == 2
