"""Tests for llmguard.sinks.SQLiteSink and SQLiteStore."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmguard._core.records import ContentDigest, Record, StreamInfo, Usage
from llmguard.exceptions import ConfigurationError
from llmguard.sinks import Sink, SQLiteSink, SQLiteStore, _sqlite, table
from llmguard.sinks.table import MIGRATIONS, migrate
from tests._helpers.reliability import fork

_T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def _at(seconds: float) -> str:
    return (_T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _record(index: int, **fields: object) -> Record:
    values: dict[str, object] = {
        "trace_id": "trace-a",
        "span_id": f"{index:016x}",
        "name": "triage",
        "start": _at(index),
        "end": _at(index + 0.25),
        "duration_ms": 250.0,
    }
    values.update(fields)
    return Record(**values)  # type: ignore[arg-type]


def _rich_record(index: int, **fields: object) -> Record:
    values: dict[str, object] = {
        "parent_id": "b7ad6b7169203331",
        "kind": "llm",
        "status": "error",
        "error_type": "SchemaViolation",
        "service": "support-bot",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "prompt_name": "triage",
        "prompt_version": "3f9c2a1b",
        "usage": Usage(input=412, output=38, cached_input=128, total=450),
        "cost_usd": 0.0000846,
        "attempt": {"number": 2, "errors": [{"path": ["urgency"], "message": "too big"}]},
        "input": {"messages": [{"role": "user", "content": "Ticket: charged twice ✓"}]},
        "output": {"category": "billing", "urgency": 9},
        "truncated": {"input": ContentDigest(bytes=20_000, sha256="ab" * 32)},
        "stream": StreamInfo(items=3, end="exhausted"),
        "tags": ("prod",),
        "metadata": {"tenant": "acme", "nested": {"list": [1, 2.5, None, "x"]}},
    }
    values.update(fields)
    return _record(index, **values)


def _fill(path: Path, records: list[Record]) -> None:
    sink = SQLiteSink(path)
    sink.emit(records)
    sink.close()


def test_emit_fills_the_columns(tmp_path: Path) -> None:
    """Each record is a row whose columns mirror its fields, its to_json() in contents."""
    path = tmp_path / "llmguard.db"
    record = _rich_record(0)
    _fill(path, [record])
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM records").fetchall()
        bodies = conn.execute(
            "SELECT body FROM contents WHERE id = (SELECT rowid FROM records)"
        ).fetchall()
    conn.close()
    assert [body for (body,) in bodies] == [record.to_json().decode()]
    assert len(rows) == 1
    assert dict(rows[0]) == {
        "span_id": record.span_id,
        "trace_id": "trace-a",
        "parent_id": "b7ad6b7169203331",
        "kind": "llm",
        "name": "triage",
        "status": "error",
        "start": record.start,
        "end": record.end,
        "duration_ms": 250.0,
        "model": "gpt-4o-mini",
        "provider": "openai",
        "prompt_name": "triage",
        "prompt_version": "3f9c2a1b",
        "service": "support-bot",
        "input_tokens": 412,
        "output_tokens": 38,
        "cost_usd": 0.0000846,
        "error_type": record.error_type,
        "retries": None,
        "sample_weight": 1.0,
        "score": None,
        "repair": None,
        "function": None,
        "json": "",
    }


def test_round_trip_keeps_nested_fields(tmp_path: Path) -> None:
    """Records with usage, metadata and nested content read back equal to what was emitted."""
    path = tmp_path / "llmguard.db"
    records = [_rich_record(0), _record(1), _rich_record(2, usage=None)]
    _fill(path, records)
    with SQLiteStore(path) as store:
        assert list(store.records()) == records


def test_new_database_is_migrated_and_in_wal_mode(tmp_path: Path) -> None:
    """A new store gets the latest schema version, WAL journaling and its indexes."""
    path = tmp_path / "sub" / "llmguard.db"
    _fill(path, [_record(0)])
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        indexed = {
            row[0]
            for row in conn.execute(
                "SELECT il.name FROM sqlite_master m, pragma_index_list(m.name) l,"
                " pragma_index_info(l.name) il WHERE m.name = 'records'"
            )
        }
    finally:
        conn.close()
    # trace_id and span_id: the unique index of one row per span.
    assert indexed == {"start", "trace_id", "span_id", "name"}


def test_sink_connection_uses_normal_sync(tmp_path: Path) -> None:
    """The sink's connection commits with synchronous=NORMAL (1)."""
    sink = SQLiteSink(tmp_path / "llmguard.db")
    sink.emit([_record(0)])
    try:
        assert sink._conn is not None
        assert sink._conn.execute("PRAGMA synchronous").fetchone() == (1,)
    finally:
        sink.close()


def test_reopening_does_not_duplicate_the_schema(tmp_path: Path) -> None:
    """A second sink on an existing store reuses its table and indexes."""
    path = tmp_path / "llmguard.db"
    _fill(path, [_record(0)])
    conn = sqlite3.connect(path)
    schema = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    conn.close()
    _fill(path, [_record(1)])
    conn = sqlite3.connect(path)
    try:
        assert conn.execute(
            "SELECT type, name, sql FROM sqlite_master ORDER BY name"
        ).fetchall() == (schema)
        assert conn.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
    finally:
        conn.close()
    with SQLiteStore(path) as store:
        assert store.count() == 2


def test_migrate_from_empty_database_sets_user_version(tmp_path: Path) -> None:
    """Migrating an empty database creates the records table and sets user_version."""
    conn = sqlite3.connect(tmp_path / "empty.db", isolation_level=None)
    try:
        assert migrate(conn) == len(MIGRATIONS)
        assert conn.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
        assert conn.execute("SELECT count(*) FROM records").fetchone() == (0,)
    finally:
        conn.close()


def test_migrate_applies_only_pending_migrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A later migration runs once on an up-to-date store and adds its column."""
    path = tmp_path / "llmguard.db"
    _fill(path, [_record(0)])
    calls: list[int] = []

    def add_feedback_column(conn: sqlite3.Connection) -> None:
        calls.append(1)
        conn.execute("ALTER TABLE records ADD COLUMN feedback REAL")

    monkeypatch.setattr(table, "MIGRATIONS", (*MIGRATIONS, add_feedback_column))
    for _ in range(2):
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            assert migrate(conn) == len(MIGRATIONS) + 1
            columns = [row[1] for row in conn.execute("PRAGMA table_info(records)")]
        finally:
            conn.close()
    assert calls == [1]
    assert columns[-1] == "feedback"
    # The sink keeps writing to the migrated store.
    _fill(path, [_record(1)])
    with SQLiteStore(path) as store:
        assert store.count() == 2


def test_version_1_store_gains_the_derived_columns(tmp_path: Path) -> None:
    """Migrating a version-1 store fills error_type, retries, weight and score from the JSON."""
    path = tmp_path / "old.db"
    records = [
        _record(0, kind="llm", status="error", error_type="SchemaViolation", attempt={"count": 3}),
        _record(1, kind="feedback", name="feedback", metadata={"score": True}),
        _record(2, sample_weight=4.0),
    ]
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        MIGRATIONS[0](conn)
        conn.execute("PRAGMA user_version = 1")
        conn.executemany(
            f"INSERT INTO records ({', '.join(f'{c!r}' for c in table.COLUMNS[:17])}, json)"
            f" VALUES ({', '.join('?' * 18)})",
            [table.row(r)[:17] + table.row(r)[-1:] for r in records],
        )
        assert migrate(conn) == len(MIGRATIONS)
        derived = conn.execute(
            "SELECT error_type, retries, sample_weight, score FROM records ORDER BY start"
        ).fetchall()
    finally:
        conn.close()
    assert derived == [
        ("SchemaViolation", 2, 1.0, None),
        (None, None, 1.0, 1.0),
        (None, None, 4.0, None),
    ]
    fresh = tmp_path / "new.db"
    _fill(fresh, records)
    with sqlite3.connect(fresh) as new:
        assert (
            new.execute(
                "SELECT error_type, retries, sample_weight, score FROM records ORDER BY start"
            ).fetchall()
            == derived
        )
    new.close()


def test_newer_schema_is_left_alone(tmp_path: Path) -> None:
    """A store from a newer llmguard keeps its version and still takes records."""
    path = tmp_path / "llmguard.db"
    _fill(path, [_record(0)])
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 7")
    conn.close()
    _fill(path, [_record(1)])
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (7,)
    finally:
        conn.close()
    with SQLiteStore(path) as store:
        assert store.count() == 2


def test_store_filters_by_trace_kind_name_and_status(tmp_path: Path) -> None:
    """``records`` keeps the rows matching every given filter."""
    path = tmp_path / "llmguard.db"
    llm = _record(0, kind="llm")
    attempt_error = _record(1, kind="attempt", status="error", parent_id=llm.span_id)
    tool = _record(2, kind="tool", name="search", trace_id="trace-b")
    limit_hit = _record(3, kind="agent", status="limit", trace_id="trace-b")
    _fill(path, [llm, attempt_error, tool, limit_hit])
    with SQLiteStore(path) as store:
        assert list(store.records(trace_id="trace-a")) == [llm, attempt_error]
        assert list(store.records(kind="tool")) == [tool]
        assert list(store.records(name="search")) == [tool]
        assert list(store.records(status="limit")) == [limit_hit]
        assert list(store.records(trace_id="trace-b", status="ok")) == [tool]
        assert list(store.records(kind="llm", status="error")) == []


def test_store_filters_by_time(tmp_path: Path) -> None:
    """``since`` is inclusive, ``until`` exclusive, for ISO strings and datetimes alike."""
    path = tmp_path / "llmguard.db"
    records = [_record(i * 60) for i in range(5)]  # one a minute from 12:00
    _fill(path, records)
    with SQLiteStore(path) as store:
        assert list(store.records(since="2025-03-01T12:02:00Z")) == records[2:]
        assert list(store.records(until=_T0 + timedelta(minutes=2))) == records[:2]
        # An offset and a naive datetime (taken as UTC) name the same instants.
        assert (
            list(
                store.records(since="2025-03-01T13:01:00+01:00", until=datetime(2025, 3, 1, 12, 3))
            )
            == records[1:3]
        )
        assert list(store.records(since="2025-03-02")) == []
        assert list(store.records(until="2025-03-01")) == []


def test_store_orders_by_start_and_limits(tmp_path: Path) -> None:
    """Records come ordered by start time, however they were emitted, up to ``limit``."""
    path = tmp_path / "llmguard.db"
    records = [_record(i) for i in range(6)]
    _fill(path, [records[4], records[1], records[5]])
    _fill(path, [records[0], records[3], records[2]])
    with SQLiteStore(path) as store:
        assert list(store.records()) == records
        assert list(store.records(limit=2)) == records[:2]
        assert list(store.records(limit=0)) == []


def test_store_trace_and_count(tmp_path: Path) -> None:
    """``trace`` returns one trace's spans in start order; ``count`` counts every row."""
    path = tmp_path / "llmguard.db"
    child = _record(2, parent_id=f"{1:016x}")
    root = _record(1)
    other = _record(0, trace_id="trace-b")
    _fill(path, [child, other, root])
    with SQLiteStore(path) as store:
        assert store.trace("trace-a") == [root, child]
        assert store.trace("missing") == []
        assert store.count() == 3


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"limit": -1}, "limit"),
        ({"since": "yesterday"}, "yesterday"),
        ({"until": "2025-13-01"}, "2025-13-01"),
    ],
)
def test_store_refuses_bad_filters(
    tmp_path: Path, filters: dict[str, object], message: str
) -> None:
    """An invalid limit or time bound is a ValueError naming it, raised at the call."""
    path = tmp_path / "llmguard.db"
    _fill(path, [_record(0)])
    with SQLiteStore(path) as store, pytest.raises(ValueError, match=message):
        store.records(**filters)  # type: ignore[arg-type]


def test_store_missing_file_is_file_not_found(tmp_path: Path) -> None:
    """Opening a store that does not exist raises FileNotFoundError naming the path."""
    path = tmp_path / "missing.db"
    with pytest.raises(FileNotFoundError, match=r"missing\.db"):
        SQLiteStore(path)
    assert not path.exists()


def test_store_refuses_other_files(tmp_path: Path) -> None:
    """A database without a records table, or a non-database, is a ValueError."""
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(ValueError, match="no records table"):
        SQLiteStore(other)
    text = tmp_path / "notes.db"
    text.write_text("hello, this is not a database file at all" * 10)
    with pytest.raises(ValueError, match="not an llmguard store"):
        SQLiteStore(text)


def test_store_is_read_only(tmp_path: Path) -> None:
    """The store cannot change the database."""
    path = tmp_path / "llmguard.db"
    _fill(path, [_record(0)])
    with SQLiteStore(path) as store, pytest.raises(sqlite3.OperationalError, match="readonly"):
        store._conn.execute("DELETE FROM records")
    with SQLiteStore(path) as store:
        assert store.count() == 1


def test_store_reads_while_a_sink_writes(tmp_path: Path) -> None:
    """A store sees every batch committed by a sink that is still open."""
    path = tmp_path / "llmguard.db"
    sink = SQLiteSink(path)
    try:
        sink.emit([_record(0)])
        with SQLiteStore(path) as store:
            assert store.count() == 1
            sink.emit([_record(1), _record(2)])
            assert store.count() == 3
    finally:
        sink.close()


def test_store_closes_on_exit(tmp_path: Path) -> None:
    """Leaving the ``with`` block closes the database."""
    path = tmp_path / "llmguard.db"
    _fill(path, [_record(0)])
    with SQLiteStore(path) as store:
        pass
    with pytest.raises(sqlite3.ProgrammingError):
        store.count()


def test_emit_after_close_reopens(tmp_path: Path) -> None:
    """A batch emitted after ``close`` is still stored."""
    path = tmp_path / "llmguard.db"
    sink = SQLiteSink(path)
    sink.emit([])
    assert not path.exists()
    sink.emit([_record(0)])
    sink.flush(timeout=1.0)
    sink.close()
    sink.close()
    sink.emit([_record(1)])
    sink.close()
    with SQLiteStore(path) as store:
        assert store.count() == 2


def test_emit_into_a_file_that_stopped_being_a_database_raises_and_leaves_it(
    tmp_path: Path,
) -> None:
    """A file replaced by a non-database after the sink was made fails the batch, untouched."""
    path = tmp_path / "notes.txt"
    sink = SQLiteSink(path)
    text = "hello, this is not a database file at all\n" * 10
    path.write_text(text)
    with pytest.raises(sqlite3.DatabaseError, match="not a database"):
        sink.emit([_record(0)])
    sink.close()
    assert path.read_text() == text


def test_concurrent_threads_and_sinks_lose_nothing(tmp_path: Path) -> None:
    """Threads sharing a sink, and a second sink on the same file, store every record."""
    path = tmp_path / "llmguard.db"
    shared, other = SQLiteSink(path), SQLiteSink(path)

    def emit(sink: SQLiteSink, thread: int) -> None:
        for batch in range(20):
            sink.emit([_record(thread * 1000 + batch * 10 + i) for i in range(10)])

    threads = [
        threading.Thread(target=emit, args=(shared if n % 3 else other, n)) for n in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    shared.close()
    other.close()
    with SQLiteStore(path) as store:
        assert len({r.span_id for r in store.records()}) == 6 * 20 * 10


def test_sinks_opening_a_new_file_at_once_both_switch_to_wal(tmp_path: Path) -> None:
    """Two sinks creating the same file at once: neither fails with "database is locked"."""
    errors: list[BaseException] = []

    def emit(sink: SQLiteSink, index: int, barrier: threading.Barrier) -> None:
        barrier.wait()
        try:
            sink.emit([_record(index)])
        except BaseException as exc:  # pragma: no cover - the regression
            errors.append(exc)

    # Each round has a ~2% chance of the race that made SQLite fail one of the two.
    for round_ in range(100):
        path = tmp_path / f"{round_}.db"
        sinks = [SQLiteSink(path), SQLiteSink(path)]
        barrier = threading.Barrier(len(sinks))
        threads = [threading.Thread(target=emit, args=(s, i, barrier)) for i, s in enumerate(sinks)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for sink in sinks:
            sink.close()
        assert errors == []
        with SQLiteStore(path) as store:
            assert store.count() == 2


def test_switching_to_wal_waits_out_a_busy_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's immediate "database is locked" on the WAL switch is retried, not raised."""
    failures = [2]

    class Busy(sqlite3.Connection):
        def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
            if sql == _sqlite._WAL and failures[0]:
                failures[0] -= 1
                raise sqlite3.OperationalError("database is locked")
            return super().execute(sql, *args)  # type: ignore[arg-type]

    connect = sqlite3.connect
    monkeypatch.setattr(
        sqlite3,
        "connect",
        lambda *a, **k: connect(*a, **k, factory=Busy),  # type: ignore[misc]
    )
    sink = SQLiteSink(tmp_path / "llmguard.db")
    sink.emit([_record(0)])
    sink.close()
    assert failures == [0]
    with SQLiteStore(tmp_path / "llmguard.db") as store:
        assert store.count() == 1


def test_switching_to_wal_gives_up_after_the_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database locked for longer than the busy timeout still raises."""

    class Locked(sqlite3.Connection):
        def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
            if sql == _sqlite._WAL:
                raise sqlite3.OperationalError("database is locked")
            return super().execute(sql, *args)  # type: ignore[arg-type]

    connect = sqlite3.connect
    monkeypatch.setattr(
        sqlite3,
        "connect",
        lambda *a, **k: connect(*a, **k, factory=Locked),  # type: ignore[misc]
    )
    monkeypatch.setattr(_sqlite, "_BUSY_TIMEOUT_MS", 20)
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        SQLiteSink(tmp_path / "llmguard.db").emit([_record(0)])


def test_forked_child_writes_to_the_same_database(tmp_path: Path) -> None:
    """Parent and forked child both commit to one store through the same sink object."""
    path = tmp_path / "llmguard.db"
    sink = SQLiteSink(path)
    sink.emit([_record(0)])
    inherited = sink._conn

    def child() -> None:
        sink.emit([_record(1), _record(2)])
        # SQLite forbids using a connection across fork: the child must have its own.
        assert sink._conn is not inherited
        sink.close()
        fresh = SQLiteSink(path)
        fresh.emit([_record(3)])
        fresh.close()

    assert fork(child) == 0
    # The parent's connection was left untouched by the child.
    sink.emit([_record(4)])
    sink.close()
    with SQLiteStore(path) as store:
        assert [r.span_id for r in store.records()] == [f"{i:016x}" for i in range(5)]


def test_forked_child_without_writes_leaves_parent_working(tmp_path: Path) -> None:
    """Closing the sink in a child does not close the parent's connection."""
    path = tmp_path / "llmguard.db"
    sink = SQLiteSink(path)
    sink.emit([_record(0)])
    assert fork(sink.close) == 0
    sink.emit([_record(1)])
    sink.close()
    with SQLiteStore(path) as store:
        assert store.count() == 2


def test_is_a_sink(tmp_path: Path) -> None:
    """SQLiteSink meets the Sink protocol."""
    assert isinstance(SQLiteSink(tmp_path / "llmguard.db"), Sink)


def test_a_renamed_store_keeps_its_records_and_a_new_one_gets_the_rest(tmp_path: Path) -> None:
    """After the store is renamed away (logrotate style), what was committed stays in the
    renamed file, write-ahead log included, and later batches go to a new store."""
    path = tmp_path / "llmguard.db"
    sink = SQLiteSink(path)
    sink.emit([_record(i) for i in range(3)])
    path.rename(tmp_path / "old.db")
    sink.emit([_record(i) for i in range(3, 5)])
    sink.close()
    with SQLiteStore(tmp_path / "old.db") as store:
        assert [r.span_id for r in store.records()] == [f"{i:016x}" for i in range(3)]
    with SQLiteStore(path) as store:
        assert [r.span_id for r in store.records()] == [f"{i:016x}" for i in range(3, 5)]


def test_a_store_replaced_by_another_database_is_followed(tmp_path: Path) -> None:
    """A store replaced by another one mid-run gets the later batches."""
    path = tmp_path / "llmguard.db"
    other = tmp_path / "other.db"
    _fill(other, [_record(100)])
    sink = SQLiteSink(path)
    sink.emit([_record(0)])
    os.replace(other, path)
    sink.emit([_record(1)])
    sink.close()
    with SQLiteStore(path) as store:
        assert sorted(r.span_id for r in store.records()) == [f"{1:016x}", f"{100:016x}"]


def _damage(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as file:
        file.seek(size // 2)
        file.write(b"\xa5" * 40_000)


def test_a_damaged_store_fails_every_batch_until_it_is_replaced(tmp_path: Path) -> None:
    """A store that fails its check when opened fails each batch, naming the problem,
    without writing to it; once the file is moved away a new store takes the batches."""
    path = tmp_path / "llmguard.db"
    _fill(path, [_record(i, output="x" * 300) for i in range(2000)])
    _damage(path)
    damaged = path.read_bytes()
    sink = SQLiteSink(path)
    for _ in range(2):
        with pytest.raises(sqlite3.DatabaseError, match="damaged SQLite database"):
            sink.emit([_record(5000)])
    assert path.read_bytes() == damaged
    path.rename(tmp_path / "damaged.db")
    sink.emit([_record(5001)])
    sink.close()
    with SQLiteStore(path) as store:
        assert [r.span_id for r in store.records()] == [f"{5001:016x}"]


def test_a_damaged_store_is_checked_once_while_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Later batches to the same damaged file fail without checking it again."""
    path = tmp_path / "llmguard.db"
    _fill(path, [_record(i, output="x" * 300) for i in range(2000)])
    _damage(path)
    sink = SQLiteSink(path)
    checks: list[sqlite3.Connection] = []
    real_check = SQLiteSink._check_integrity

    def counted(self: SQLiteSink, conn: sqlite3.Connection) -> None:
        checks.append(conn)
        real_check(self, conn)

    monkeypatch.setattr(SQLiteSink, "_check_integrity", counted)
    for _ in range(3):
        with pytest.raises(sqlite3.DatabaseError):
            sink.emit([_record(5000)])
    assert len(checks) == 1


@pytest.mark.parametrize(("limit", "checked"), [(_sqlite.QUICK_CHECK_MAX_BYTES, True), (0, False)])
def test_quick_check_runs_only_up_to_its_size_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int, checked: bool
) -> None:
    """Opening a store runs PRAGMA quick_check when it is within QUICK_CHECK_MAX_BYTES."""
    path = tmp_path / "llmguard.db"
    _fill(path, [_record(0)])
    monkeypatch.setattr(_sqlite, "QUICK_CHECK_MAX_BYTES", limit)
    statements: list[str] = []
    real_connect = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real_connect(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(_sqlite.sqlite3, "connect", traced)
    _fill(path, [_record(1)])
    assert any("quick_check" in s for s in statements) is checked
    with SQLiteStore(path) as store:
        assert store.count() == 2


def test_store_skips_unreadable_rows_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLiteStore.records skips rows that are not records, with one warning counting them."""
    path = tmp_path / "llmguard.db"
    _fill(path, [_record(i) for i in range(4)])
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE records SET json = 'not json' WHERE rowid = 1")
        conn.execute("""UPDATE records SET json = '{"trace_id": 5}' WHERE rowid = 3""")
    conn.close()
    with caplog.at_level(logging.WARNING, logger="llmguard"), SQLiteStore(path) as store:
        assert [r.span_id for r in store.records()] == [f"{1:016x}", f"{3:016x}"]
    assert [r.getMessage() for r in caplog.records] == [f"{path}: skipped 2 unreadable row(s)"]


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda d: d, "it is a directory"),
        (lambda d: d / "file" / "llmguard.db", "is not a directory"),
        (lambda d: d / "file", "it is not an SQLite database"),
    ],
)
def test_a_path_that_cannot_work_is_refused(
    tmp_path: Path, make: Callable[[Path], Path], problem: str
) -> None:
    """A directory, a path under a file or a file that is not SQLite is refused by name."""
    (tmp_path / "file").write_text("some notes")
    path = make(tmp_path)
    with pytest.raises(ConfigurationError) as caught:
        SQLiteSink(path)
    assert repr(str(path)) in str(caught.value)
    assert problem in str(caught.value)


def test_an_empty_file_is_accepted_as_a_new_store(tmp_path: Path) -> None:
    """An empty file, as ``touch`` leaves, becomes a store."""
    path = tmp_path / "llmguard.db"
    path.touch()
    _fill(path, [_record(0)])
    with SQLiteStore(path) as store:
        assert store.count() == 1


def _version_2_store(path: Path, records: list[Record]) -> None:
    """A store as llmguard wrote it before layout 3: JSON inline, no repair column."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        MIGRATIONS[0](conn)
        MIGRATIONS[1](conn)
        conn.execute("PRAGMA user_version = 2")
        old = table.COLUMNS[: table.COLUMNS.index("repair")]
        conn.executemany(
            f"INSERT INTO records ({', '.join(f'{c!r}' for c in old)}, json)"
            f" VALUES ({', '.join('?' * (len(old) + 1))})",
            [table.row(r)[: len(old)] + table.row(r)[-1:] for r in records],
        )
    finally:
        conn.close()


def _attempt(index: int, repair: str | None) -> Record:
    summary: dict[str, Any] = {"number": 1, "outcome": "ok", "function": "triage"}
    if repair is not None:
        summary["repair"] = repair
    return _record(index, kind="attempt", name="attempt 1", attempt=summary)


def test_a_version_2_store_is_migrated_and_keeps_its_records(tmp_path: Path) -> None:
    """The sink moves an old store to layout 3: old rows keep their JSON, new ones split it."""
    path = tmp_path / "old.db"
    before = [_rich_record(0), _attempt(1, "json_repair"), _attempt(2, "fence"), _attempt(3, None)]
    _version_2_store(path, before)
    after = [_rich_record(4), _attempt(5, "json_repair")]
    _fill(path, after)
    with sqlite3.connect(path) as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        columns = conn.execute(
            "SELECT json != '', repair, function FROM records ORDER BY rowid"
        ).fetchall()
        contents = conn.execute("SELECT count(*) FROM contents").fetchone()[0]
    conn.close()
    assert version == len(MIGRATIONS) == 5
    assert columns == [
        (1, None, None),
        (1, "json_repair", "triage"),
        (1, "fence", "triage"),
        (1, None, None),
        (0, None, None),
        (0, "json_repair", "triage"),
    ]
    assert contents == 2
    with SQLiteStore(path) as store:
        assert list(store.records()) == before + after
        assert store.trace("trace-a") == before + after


def test_a_version_2_store_is_read_without_migrating(tmp_path: Path) -> None:
    """SQLiteStore reads an old store as it is, read-only."""
    path = tmp_path / "old.db"
    records = [_rich_record(0), _attempt(1, "json_repair")]
    _version_2_store(path, records)
    with SQLiteStore(path) as store:
        assert store.version == 2
        assert list(store.records(kind="attempt")) == records[1:]


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["repair", "function", "number", "count"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner),
            max_leaves=5,
        ),
    )
)
def test_any_attempt_summary_gives_a_row(summary: dict[str, Any]) -> None:
    """Whatever an attempt record holds, its row has text or nothing in repair and function."""
    values = table.row(_record(0, kind="attempt", attempt=summary))
    repair = values[table.COLUMNS.index("repair")]
    function = values[table.COLUMNS.index("function")]
    assert repair == (summary["repair"] if isinstance(summary.get("repair"), str) else None)
    assert function is None or isinstance(function, str)


def test_rows_deleted_by_hand_leave_no_id_to_collide_with(tmp_path: Path) -> None:
    """After the newest rows are deleted from records (not contents), new batches still land."""
    path = tmp_path / "llmguard.db"
    _fill(path, [_record(0), _record(1)])
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM records WHERE rowid = (SELECT max(rowid) FROM records)")
    conn.close()
    _fill(path, [_record(2)])
    with SQLiteStore(path) as store:
        assert list(store.records()) == [_record(0), _record(2)]
