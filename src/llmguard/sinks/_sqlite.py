"""The embedded default store: a sink writing to SQLite, and a reader for queries."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from llmguard._core.records import Record
from llmguard.sinks._filters import TimeBound, check_limit, iso_bound
from llmguard.sinks._fork import renew_lock_after_fork
from llmguard.sinks.table import INSERT, migrate, row

__all__ = ["SQLiteSink", "SQLiteStore"]

_BUSY_TIMEOUT_MS = 5000


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
