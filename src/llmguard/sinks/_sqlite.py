"""The embedded default store: a sink writing to SQLite, and a reader for queries."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from llmguard._core.records import Record
from llmguard.sinks._filters import TimeBound, check_limit, iso_bound
from llmguard.sinks._fork import renew_lock_after_fork

__all__ = [
    "COLUMNS",
    "DERIVED",
    "INSERT",
    "MIGRATIONS",
    "SQLiteSink",
    "SQLiteStore",
    "migrate",
    "row",
]

_BUSY_TIMEOUT_MS = 5000

# Index upkeep, not the table, is what a batch costs: every index keyed by a random id
# (span, parent) dirties pages all over the file. Measured with benchmarks/bench_sinks.py,
# nine indexes gave 47k records/s, these three 76k+. They serve what the command line
# asks: time windows, one trace's spans, one function's calls. The other columns are
# there for SQL aggregates, which scan a time range anyway.
_INDEXED = ("start", "trace_id", "name")

_WAL = "PRAGMA journal_mode = WAL"
_WAL_RETRY_S = 0.005

# Applied to every connection of the sink, in this order. Measured with
# benchmarks/bench_sinks.py, these settings make it ~1.7x faster than the defaults:
# - 16 KiB pages hold ~10 records instead of ~2 (takes effect only when the file is
#   created, hence before journal_mode);
# - a 16 MiB page cache holds a batch's dirty pages instead of spilling them early;
# - a checkpoint every ~40 MiB of WAL instead of ~4 MiB, since one batch already
#   writes several MiB and each checkpoint costs two fsyncs.
_PRAGMAS = (
    f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS:d}",
    "PRAGMA page_size = 16384",
    _WAL,  # through _set_wal
    "PRAGMA synchronous = NORMAL",
    "PRAGMA cache_size = -16384",
    "PRAGMA wal_autocheckpoint = 2500",
)


def _set_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL, waiting for another connection doing the same on a new file.

    Switching needs an exclusive lock taken from a shared one; when two connections do
    it at once, SQLite fails one straight away with "database is locked" instead of
    calling the busy handler (waiting could deadlock). So wait here, as long as
    ``busy_timeout`` would.
    """
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute(_WAL)
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(_WAL_RETRY_S)


_SQLITE_BUSY = 5  # sqlite3.SQLITE_BUSY, which the module names only from Python 3.11


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return bool(code & 0xFF == _SQLITE_BUSY)
    return "database is locked" in str(exc)


COLUMNS = (
    "span_id",
    "trace_id",
    "parent_id",
    "kind",
    "name",
    "status",
    "start",
    "end",
    "duration_ms",
    "model",
    "provider",
    "prompt_name",
    "prompt_version",
    "service",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "error_type",
    "retries",
    "sample_weight",
    "score",
    "json",
)
_QUOTED = ", ".join(f'"{column}"' for column in COLUMNS)
INSERT = f"INSERT INTO records ({_QUOTED}) VALUES ({', '.join('?' * len(COLUMNS))})"


def _initial_schema(conn: sqlite3.Connection) -> None:
    # "end" is an SQL keyword, hence the quoted names.
    conn.execute(
        """
        CREATE TABLE records (
            "span_id" TEXT NOT NULL,
            "trace_id" TEXT NOT NULL,
            "parent_id" TEXT,
            "kind" TEXT NOT NULL,
            "name" TEXT NOT NULL,
            "status" TEXT NOT NULL,
            "start" TEXT NOT NULL,
            "end" TEXT NOT NULL,
            "duration_ms" REAL,
            "model" TEXT,
            "provider" TEXT,
            "prompt_name" TEXT,
            "prompt_version" TEXT,
            "service" TEXT,
            "input_tokens" INTEGER,
            "output_tokens" INTEGER,
            "cost_usd" REAL,
            "json" TEXT NOT NULL
        )
        """
    )
    for column in _INDEXED:
        conn.execute(f'CREATE INDEX records_{column} ON records ("{column}")')


# Read by the command's aggregates, which would otherwise parse every row's JSON.
DERIVED = (
    ("error_type", "TEXT", "json_extract(json, '$.error_type')"),
    (
        "retries",
        "INTEGER",
        "CASE WHEN kind = 'llm' THEN json_extract(json, '$.attempt.count') - 1 END",
    ),
    ("sample_weight", "REAL", "coalesce(json_extract(json, '$.sample_weight'), 1.0)"),
    (
        "score",
        "REAL",
        "CASE WHEN kind = 'feedback' THEN json_extract(json, '$.metadata.score') END",
    ),
)


def _derived_columns(conn: sqlite3.Connection) -> None:
    for column, kind, _ in DERIVED:
        conn.execute(f'ALTER TABLE records ADD COLUMN "{column}" {kind}')
    assignments = ", ".join(f'"{column}" = {value}' for column, _, value in DERIVED)
    conn.execute(f"UPDATE records SET {assignments}")


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _initial_schema,
    _derived_columns,
)
"""Schema migrations, in order.

Entry ``n`` takes a store from ``PRAGMA user_version`` ``n`` to ``n + 1``; version 1 is
the initial schema. Append, never edit, to change the schema.
"""


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the store's schema up to date, in one transaction.

    A store written by a newer llmguard (a higher ``user_version``) is left as it is:
    migrations only add, so the columns this version writes are still there.

    Args:
        conn: A connection in autocommit mode (``isolation_level=None``).

    Returns:
        The schema version after migrating.
    """
    # BEGIN IMMEDIATE takes the write lock before reading the version, so two processes
    # opening a new store at once cannot both create the schema.
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        for number in range(version, len(MIGRATIONS)):
            MIGRATIONS[number](conn)
            # PRAGMA takes no parameters; number is an int we produced.
            conn.execute(f"PRAGMA user_version = {number + 1:d}")
    return max(version, len(MIGRATIONS))


def row(record: Record, text: str | None = None) -> tuple[object, ...]:
    """The values `SQLiteSink` inserts for a record, in the order of its columns.

    Args:
        record: The record.
        text: The record's JSON, when the caller already has it.
    """
    usage = record.usage
    attempt = record.attempt
    return (
        record.span_id,
        record.trace_id,
        record.parent_id,
        record.kind,
        record.name,
        record.status,
        record.start,
        record.end,
        record.duration_ms,
        record.model,
        record.provider,
        record.prompt_name,
        record.prompt_version,
        record.service,
        None if usage is None else usage.input,
        None if usage is None else usage.output,
        record.cost_usd,
        record.error_type,
        _retries(attempt) if record.kind == "llm" and attempt is not None else None,
        record.sample_weight,
        _score(record.metadata.get("score")) if record.kind == "feedback" else None,
        record.to_json().decode() if text is None else text,
    )


def _retries(attempt: Mapping[str, Any]) -> int | None:
    count = attempt.get("count")
    # Read back from files too, where a damaged count must not stop a whole load.
    if isinstance(count, int) and not isinstance(count, bool) and 0 < count <= 2**63:
        return count - 1
    return None


def _score(value: object) -> float | None:
    if not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer too large for a float, read back from a file
        return None


# Connections inherited through fork: SQLite forbids using or closing them in the
# child, and dropping the last reference would close them, so they are kept here.
_inherited: list[sqlite3.Connection] = []


class SQLiteSink:
    """Writes records to an SQLite database, one transaction per batch.

    The database runs in WAL mode with ``synchronous=NORMAL``: a committed batch survives
    the process being killed, and readers (the ``llmguard`` command) never block the
    writer. The file, its parent directories and the schema are created on the first
    batch; several processes may write to the same file, and a forked child opens its
    own connection.

    Args:
        path: The database file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        renew_lock_after_fork(self)

    def emit(self, batch: Sequence[Record]) -> None:
        """Insert the batch in one transaction."""
        if not batch:
            return
        rows = [row(record) for record in batch]
        with self._lock:
            conn = self._connection()
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(INSERT, rows)

    def flush(self, timeout: float | None = None) -> None:
        """Nothing to do: every batch is committed by `emit`."""

    def close(self) -> None:
        """Close the connection; a later batch reopens it."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            if self._pid == os.getpid():
                conn.close()
            else:
                _inherited.append(conn)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None:
            if self._pid == os.getpid():
                return self._conn
            _inherited.append(self._conn)
            self._conn = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The lock above serializes use, so the connection may move between the worker
        # thread and callers' threads (strict mode).
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            for pragma in _PRAGMAS:
                if pragma == _WAL:
                    _set_wal(conn)
                else:
                    conn.execute(pragma)
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._pid = os.getpid()
        return conn


_StoreT = TypeVar("_StoreT", bound="SQLiteStore")


class SQLiteStore:
    """Reads the records of a database written by `SQLiteSink`.

    The database is opened read-only; it may be written to at the same time.

    Args:
        path: The database file.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not an llmguard store.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no llmguard store at {os.fspath(path)!r}")
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        # Only reads go through it, and an iterator from `records` may be finished in
        # another thread than the one that opened the store.
        self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS:d}")
            found = self._conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'records'"
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise ValueError(f"{os.fspath(path)!r} is not an llmguard store: {exc}") from exc
        if found is None:
            self._conn.close()
            raise ValueError(f"{os.fspath(path)!r} is not an llmguard store: no records table")

    def __enter__(self: _StoreT) -> _StoreT:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def records(
        self,
        *,
        trace_id: str | None = None,
        kind: str | None = None,
        name: str | None = None,
        status: str | None = None,
        since: TimeBound | None = None,
        until: TimeBound | None = None,
        limit: int | None = None,
    ) -> Iterator[Record]:
        """The records matching every given filter, ordered by start time.

        Args:
            trace_id: Keep records of this trace.
            kind: Keep records of this kind.
            name: Keep records with this name.
            status: Keep records with this status.
            since: Keep records that started at or after this time.
            until: Keep records that started before this time.
            limit: Return at most this many records.

        Returns:
            An iterator reading the records as it goes.

        Raises:
            ValueError: A time bound or ``limit`` is invalid.
        """
        check_limit(limit)
        clauses: list[str] = []
        params: list[object] = []
        for column, value in (
            ("trace_id", trace_id),
            ("kind", kind),
            ("name", name),
            ("status", status),
        ):
            if value is not None:
                clauses.append(f'"{column}" = ?')
                params.append(value)
        if since is not None:
            clauses.append('"start" >= ?')
            params.append(iso_bound(since))
        if until is not None:
            clauses.append('"start" < ?')
            params.append(iso_bound(until))
        sql = "SELECT json FROM records"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        # rowid breaks ties in insertion order, which is end order within a batch.
        sql += ' ORDER BY "start", rowid'
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        cursor = self._conn.execute(sql, params)
        return (Record.from_json(text) for (text,) in cursor)

    def trace(self, trace_id: str) -> list[Record]:
        """Every record of one trace, ordered by start time."""
        return list(self.records(trace_id=trace_id))

    def count(self) -> int:
        """How many records the store holds."""
        total: int = self._conn.execute("SELECT count(*) FROM records").fetchone()[0]
        return total

    def close(self) -> None:
        """Close the database."""
        self._conn.close()
