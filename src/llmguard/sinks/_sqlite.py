"""The embedded default store: a sink writing to SQLite, and a reader for queries."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from operator import methodcaller
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from llmguard._core.records import Record
from llmguard.sinks._filters import TimeBound, check_limit, iso_bound
from llmguard.sinks._fork import finish_writes_before_fork
from llmguard.sinks._paths import (
    check_file_path,
    cut_short,
    odd_journal,
    shm_refused,
    starts_like_sqlite,
    unmerged_wal,
)
from llmguard.sinks.table import (
    content,
    insert_records,
    last_copies,
    migrate,
    missing,
    read_record,
)

__all__ = ["SQLiteSink", "SQLiteStore"]

_logger = logging.getLogger("llmguard")

_BUSY_TIMEOUT_MS = 5000

# A store up to this size is checked with PRAGMA quick_check when the sink opens it:
# about 1 ms a MiB with the file in the page cache, 5 ms a MiB from disk, on the
# delivery thread. A larger store is only opened and its schema read; damage there
# shows when a batch touches it, and that batch fails.
QUICK_CHECK_MAX_BYTES = 64 * 1024 * 1024


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

# Set once the store is migrated (a migration's index sorts stay on disk): the copies
# of the pages a statement changes, which SQLite keeps because of the store's triggers
# (see `table._ROWS_PER_STATEMENT`), stay in memory instead of a temporary file.
_STATEMENT_JOURNAL = "PRAGMA temp_store = MEMORY"


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


_TO_JSON = methodcaller("to_json")

# Connections inherited through fork: SQLite forbids using or closing them in the
# child, and dropping the last reference would close them, so they are kept here.
_inherited: list[sqlite3.Connection] = []


class SQLiteSink:
    """Writes records to an SQLite database, one transaction per batch.

    The database runs in WAL mode with ``synchronous=NORMAL``: a committed batch survives
    the process being killed, and readers (the ``llmguard`` command) never block the
    writer. The file, its parent directories and the schema are created on the first
    batch; several processes may write to the same file, and a forked child opens its
    own connection. A fork waits for the batch another thread is writing to commit (at
    most the 5 s busy timeout), so a child never starts inside the parent's
    transaction; a fork from inside the write (an adapter, a signal handler) cannot
    wait for it and goes ahead at once. When the sink opens the database it checks it
    (``PRAGMA quick_check``, for stores up to 64 MiB): a damaged store fails every
    batch, which is counted, instead of taking records into it. A database deleted or
    replaced while the sink runs is reopened, so no batch goes to a file nobody will
    read.

    Args:
        path: The database file.

    Raises:
        ConfigurationError: ``path`` cannot be a store: a directory, a file that is not
            an SQLite database, another program's database (tables, but no ``records``
            table of llmguard's layout), or a place this process cannot write to.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        check_file_path(self.path, "SQLiteSink", sqlite=True)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._identity: tuple[int, int] | None = None
        self._wal: tuple[int, int] | None = None
        self._damage: tuple[tuple[int, int, int, int], str] | None = None
        # The thread inside ``emit``'s transaction, which a fork must not wait for.
        self._writer: int | None = None
        finish_writes_before_fork(self, _BUSY_TIMEOUT_MS / 1000)

    def emit(self, batch: Sequence[Record]) -> None:
        """Insert the batch in one transaction."""
        if not batch:
            return
        # Before the write lock: a record not serialized yet (the pipeline's are) is
        # serialized here, and one that cannot be fails the batch before it starts.
        texts: list[bytes] = list(map(_TO_JSON, batch))
        with self._lock:
            self._writer = threading.get_ident()
            try:
                conn = self._connection()
                with conn:
                    conn.execute("BEGIN IMMEDIATE")
                    insert_records(conn, batch, texts)
            finally:
                self._writer = None

    def flush(self, timeout: float | None = None) -> None:
        """Nothing to do: every batch is committed by `emit`."""

    def close(self) -> None:
        """Close the connection; a later batch reopens it."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._pid == os.getpid():
            conn.close()
        else:
            _inherited.append(conn)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None:
            if self._pid != os.getpid():
                self._close()
            elif self._identity != _identity(self.path):
                # Deleted or replaced: writing on would put the batch in a file nobody
                # reads.
                self._let_go()
            else:
                return self._conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._check_not_known_damaged()
        # The lock above serializes use, so the connection may move between the worker
        # thread and callers' threads (strict mode).
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            for pragma in _PRAGMAS:
                if pragma == _WAL:
                    _set_wal(conn)
                else:
                    conn.execute(pragma)
            self._check_integrity(conn)
            migrate(conn)
            conn.execute(_STATEMENT_JOURNAL)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._pid = os.getpid()
        self._identity = _identity(self.path)
        self._wal = _identity(_wal_path(self.path))
        return conn

    def _let_go(self) -> None:
        """Leave a connection whose file was deleted or replaced, keeping its records.

        Its committed records still in the write-ahead log go into its own file first,
        which a rename kept. Closing would then delete ``<path>-wal`` by name: when
        that is no longer this connection's log but the new file's, the connection is
        kept open instead, as after a fork.
        """
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(sqlite3.Error):
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        wal = _identity(_wal_path(self.path))
        if wal is None or wal == self._wal:
            conn.close()
        else:
            _inherited.append(conn)

    def _check_not_known_damaged(self) -> None:
        """Fail at once, without checking again, while a damaged file is unchanged."""
        if self._damage is None:
            return
        key, message = self._damage
        if _fingerprint(self.path) == key:
            raise sqlite3.DatabaseError(message)
        self._damage = None

    def _check_integrity(self, conn: sqlite3.Connection) -> None:
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            size = 0
        try:
            if size <= QUICK_CHECK_MAX_BYTES:
                found = [text for (text,) in conn.execute("PRAGMA quick_check(5)")]
                problem = None if found == ["ok"] else "; ".join(found).replace("\n", "; ")
            else:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                problem = None
        except sqlite3.OperationalError:
            raise  # busy, out of memory, I/O: not the file's fault, so not remembered
        except sqlite3.DatabaseError as exc:
            problem = str(exc)
        if problem is None:
            return
        message = (
            f"{os.fspath(self.path)!r} is a damaged SQLite database, so no record is "
            f"written to it (PRAGMA quick_check: {problem}); move it away to start a new "
            "store, or recover it with the sqlite3 command's .recover"
        )
        fingerprint = _fingerprint(self.path)
        if fingerprint is not None:
            self._damage = (fingerprint, message)
        raise sqlite3.DatabaseError(message)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return (info.st_dev, info.st_ino)


def _wal_path(path: Path) -> Path:
    return path.with_name(f"{path.name}-wal")


def _fingerprint(path: Path) -> tuple[int, int, int, int] | None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


_StoreT = TypeVar("_StoreT", bound="SQLiteStore")

# SQLite's primary result codes (the low byte of an extended one) with which opening
# a WAL-mode store fails when its -shm file cannot be made or opened.
_SQLITE_READONLY = 8
_SQLITE_CORRUPT = 11
_SQLITE_CANTOPEN = 14
_SQLITE_NOTADB = 26
_REMEDY = "restore it from a copy, or recover what it holds: sqlite3 FILE .recover | sqlite3 NEW"


def _open_read_only(path: Path, name: str) -> tuple[sqlite3.Connection, bool, int, list[str]]:
    """A read-only connection to ``path``, whether it has a ``records`` table, its
    layout version and the columns that layout lacks.

    Raises:
        ValueError: The file cannot be read now, or is no SQLite database.
    """
    # SQLite reads a store through a link, its -wal and -shm beside the store itself.
    path = path.resolve()
    odd = odd_journal(path)
    if odd is not None:
        raise ValueError(f"{name!r} cannot be read: {odd}; remove it")
    cut = cut_short(path)
    if cut is not None:
        raise ValueError(f"{name!r} is damaged: {cut}; {_REMEDY}")
    uri = path.as_uri()
    try:
        return _connect(f"{uri}?mode=ro")
    except sqlite3.OperationalError as exc:
        # Locked, out of memory, or an I/O error such as a full disk refusing the
        # shared-memory file: nothing says the file is no store. (Python gives the
        # error's code from 3.11 on; before, whether the -shm can be had decides.)
        code: int = getattr(exc, "sqlite_errorcode", _SQLITE_CANTOPEN) & 0xFF
        if code not in (_SQLITE_READONLY, _SQLITE_CANTOPEN) or not shm_refused(path):
            raise ValueError(f"{name!r} cannot be read now: {exc}") from exc
        failure = exc
    except sqlite3.DatabaseError as exc:
        raise ValueError(_unreadable(path, name, exc)) from exc
    # SQLite shares a WAL-mode database through its -shm file, which this user can
    # neither make nor open here. Read as immutable, SQLite takes no lock and ignores
    # the -wal: right only while nothing writes the file, and with no changes left in
    # the -wal, which is checked first.
    unmerged = unmerged_wal(path)
    if unmerged is not None:
        raise ValueError(
            f"{name!r} cannot be read here: {unmerged}, which SQLite reads only with a "
            "-shm file beside them, which this user can neither create nor open there; "
            "copy the store with its -wal (and -shm) file to a directory you can write "
            "to, or checkpoint it where it was written "
            "(sqlite3 FILE 'PRAGMA wal_checkpoint(TRUNCATE)')"
        ) from failure
    try:
        return _connect(f"{uri}?mode=ro&immutable=1")
    except sqlite3.OperationalError as exc:
        raise ValueError(f"{name!r} cannot be read now: {failure}") from exc
    except sqlite3.DatabaseError as exc:
        raise ValueError(_unreadable(path, name, exc)) from exc


def _unreadable(path: Path, name: str, exc: sqlite3.DatabaseError) -> str:
    """Why SQLite could not read ``path`` as a database: another kind of file, or an
    SQLite database that is damaged (cut short, overwritten)."""
    code: int = getattr(exc, "sqlite_errorcode", _SQLITE_NOTADB) & 0xFF
    if code == _SQLITE_NOTADB and starts_like_sqlite(path):
        code = _SQLITE_CORRUPT  # its header cut short
    if code == _SQLITE_CORRUPT:
        return f"{name!r} is damaged ({exc}): cut short or overwritten; {_REMEDY}"
    return f"{name!r} is not an llmguard store: {exc}"


def _connect(uri: str) -> tuple[sqlite3.Connection, bool, int, list[str]]:
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS:d}")
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'records'"
        ).fetchone()
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        lacking = missing(conn, version) if found is not None else []
    except BaseException:
        conn.close()
        raise
    return conn, found is not None, version, lacking


class SQLiteStore:
    """Reads the records of a database written by `SQLiteSink`.

    The database is opened read-only; it may be written to at the same time. Where this
    user cannot have the ``-shm`` file SQLite shares a store through (a read-only mount,
    someone else's directory, with no ``-shm`` copied beside the store), the store is
    read as a file nothing writes to (SQLite's ``immutable``), which only such a place
    can promise; a ``-wal`` file there holding changes is an error.

    Args:
        path: The database file.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not an llmguard store, or cannot be read now (locked,
            an I/O error, or a ``-wal`` file with changes that cannot be read there);
            the message says which.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            what = "" if not os.path.lexists(self.path) else ": it is not a file"
            what = ": it is a directory" if self.path.is_dir() else what
            raise FileNotFoundError(f"no llmguard store at {os.fspath(path)!r}{what}")
        # Only reads go through it, and an iterator from `records` may be finished in
        # another thread than the one that opened the store.
        self._conn, found, version, lacking = _open_read_only(self.path, os.fspath(path))
        if not found:
            self._conn.close()
            raise ValueError(f"{os.fspath(path)!r} is not an llmguard store: no records table")
        if lacking:
            # Queries would fail on the first of them, as an SQLite error naming a column.
            self._conn.close()
            shown = ", ".join(lacking[:8]) + (", ..." if len(lacking) > 8 else "")
            raise ValueError(
                f"{os.fspath(path)!r} is not an llmguard store: its layout (version "
                f"{version}) lacks {shown}"
            )
        self.version = version
        self._content = content(version)
        # A store from before version 4 may hold copies of a span: the last one counts.
        self._copies = last_copies(version)

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
        sql = f"SELECT {self._content} FROM records"
        if clauses or self._copies:
            sql += " WHERE " + (" AND ".join(clauses) or "1") + self._copies
        # rowid breaks ties in insertion order, which is end order within a batch.
        sql += ' ORDER BY "start", rowid'
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self._parse(self._conn.execute(sql, params))

    def _parse(self, cursor: sqlite3.Cursor) -> Iterator[Record]:
        """The cursor's records; rows that are not one are skipped, and counted once."""
        skipped = 0
        try:
            for (text,) in cursor:
                try:
                    record = read_record(text)
                except (ValueError, TypeError):
                    skipped += 1
                    continue
                yield record
        finally:
            if skipped:
                _logger.warning("%s: skipped %d unreadable row(s)", os.fspath(self.path), skipped)

    def trace(self, trace_id: str) -> list[Record]:
        """Every record of one trace, ordered by start time."""
        return list(self.records(trace_id=trace_id))

    def count(self) -> int:
        """How many records the store holds."""
        where = f" WHERE 1{self._copies}" if self._copies else ""
        total: int = self._conn.execute(f"SELECT count(*) FROM records{where}").fetchone()[0]
        return total

    def close(self) -> None:
        """Close the database."""
        self._conn.close()
