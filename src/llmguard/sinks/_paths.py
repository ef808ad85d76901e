"""Cheap checks of a file store's path: made when a file sink is created, that the path
can work; made when a store is read, whether SQLite can share it and what its ``-wal``
file holds."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import stat
import struct
from pathlib import Path

from llmguard.exceptions import ConfigurationError

__all__ = [
    "SQLITE_HEADER",
    "check_file_path",
    "cut_short",
    "odd_journal",
    "shm_refused",
    "starts_like_sqlite",
    "unmerged_wal",
]

SQLITE_HEADER = b"SQLite format 3\x00"
"""The first bytes of every SQLite database file."""

# A WAL file starts with a 32-byte header: magic number, format version, page size,
# checkpoint sequence, two salts, a checksum. Each frame is a 24-byte header (page
# number, database size, the two salts, a checksum) and a page. SQLite takes a frame
# as part of the log only while its salts are the header's.
_WAL_MAGIC = (0x377F0682, 0x377F0683)
_WAL_HEADER = struct.Struct(">IIIIII8x")
_FRAME_HEADER = struct.Struct(">8xII8x")
_DATABASE_HEADER_SIZE = 100


def check_file_path(path: Path, sink: str, *, sqlite: bool = False) -> None:
    """Refuse a path the sink could never write to.

    Refused: a directory, a file or directory that is not writable, a path under
    something that is not a directory and, for SQLite, an existing file that is not a
    database, or that is another program's database (tables, but no ``records`` table
    of llmguard's layout). Nothing is created: the file and its parent directories still appear on
    the first batch. What can change later, such as the disk filling up or the file
    being deleted, is for the sink to handle when it writes.

    Args:
        path: The sink's file.
        sink: How the sink is named in the error, such as ``"JSONLSink"``.
        sqlite: Check also that an existing, non-empty file starts like an SQLite
            database, and that its directory can take the ``-wal`` file beside it.

    Raises:
        ConfigurationError: The path cannot work; the message names it and says why.
    """
    name = os.fspath(path)
    problem = _problem(path, name, sqlite)
    if problem is not None:
        raise ConfigurationError(f"{sink}({name!r}): {problem}")


def _problem(path: Path, name: str, sqlite: bool) -> str | None:
    try:
        info: os.stat_result | None = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        info = None  # an ancestor that is not a directory is found below
    except OSError as exc:
        return f"cannot use it: {exc.strerror}"
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            return "it is a directory"
        if not _access(path, os.W_OK):
            if os.path.lexists(path):
                return "it is not writable"
            # Renamed away since the stat (log rotation): the sink makes a new file.
            info = None
    if info is not None:
        if sqlite and stat.S_ISREG(info.st_mode) and info.st_size > 0:
            # Read through SQLite, never with a file of this process's own, whose
            # closing would drop the locks a sink writing to it here holds on it.
            if not _access(path, os.R_OK):
                return f"cannot read it: {os.strerror(errno.EACCES)}"
            if _page_size(path) is None:
                return "it is not an SQLite database"
            foreign = _foreign(path)
            if foreign is not None:
                return foreign
        if not sqlite or os.path.lexists(f"{name}-wal"):
            return None
    directory = _nearest_existing(path.absolute().parent)
    if not directory.is_dir():
        return f"{os.fspath(directory)!r} is not a directory"
    if not _access(directory, os.W_OK | os.X_OK):
        what = "cannot create it" if info is None else "cannot create its -wal file"
        return f"{what}: the directory {os.fspath(directory)!r} is not writable"
    return None


def _foreign(path: Path) -> str | None:
    """Why an SQLite database is another program's, or ``None`` when llmguard may write
    to it: it has no table yet, or a ``records`` table of llmguard's layout. A database
    that cannot be read now (locked, damaged) is left to the sink, which says so."""
    from llmguard.sinks.table import missing  # the store's layout

    with (
        contextlib.suppress(sqlite3.Error),
        contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn,
    ):
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
            )
        ]
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        if not tables:
            return None
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        if "records" not in tables:
            return (
                f"it is another program's SQLite database (tables: {shown}); give "
                "SQLiteSink a file of its own"
            )
        # llmguard numbers its layout from 1 as it creates the table.
        lacking = missing(conn, version) if version > 0 else []
        if version == 0 or lacking:
            why = f"it lacks {', '.join(lacking[:5])}" if lacking else "PRAGMA user_version is 0"
            return (
                f"its records table is not llmguard's ({why}): it is another program's "
                "SQLite database; give SQLiteSink a file of its own"
            )
    return None


def _nearest_existing(directory: Path) -> Path:
    """The directory itself, or its closest ancestor that exists (perhaps a file)."""
    while not os.path.lexists(directory) and directory.parent != directory:
        directory = directory.parent
    return directory


def _access(path: Path, mode: int) -> bool:
    if os.access in os.supports_effective_ids:
        return os.access(path, mode, effective_ids=True)
    return os.access(path, mode)  # pragma: no cover - platforms without faccessat


def shm_refused(path: Path) -> bool:
    """Whether this user cannot have the ``-shm`` file SQLite reads a WAL-mode ``path``
    through: it exists and cannot be written, or it is missing and the directory cannot
    take it (a read-only mount, a directory of someone else's)."""
    shm = path.with_name(f"{path.name}-shm")
    if os.path.lexists(shm):
        return not _access(shm, os.R_OK | os.W_OK)
    return not _access(path.absolute().parent, os.W_OK | os.X_OK)


def unmerged_wal(path: Path) -> str | None:
    """Why ``path``'s ``-wal`` file may hold pages not yet copied into the database, or
    ``None`` when it holds none: there is none, it is shorter than its header or a
    frame, or it does not start like a WAL file, or its first frame is left from an
    earlier log (other salts), all of which SQLite reads as an empty log.

    Without the ``-shm`` file nothing tells which frames were copied back already, so a
    frame of the current log counts as unmerged; reading one page keeps this cheap.
    """
    wal = path.with_name(f"{path.name}-wal")
    try:
        found = _head(wal, _WAL_HEADER.size + _FRAME_HEADER.size)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"its -wal file {os.fspath(wal)!r} cannot be read ({exc.strerror})"
    if found is None:
        return None  # not a file: SQLite reads no log from it either, or refuses it
    head, size = found
    if len(head) < _WAL_HEADER.size + _FRAME_HEADER.size:
        return None
    magic, _, page_size, _, *salts = _WAL_HEADER.unpack_from(head)
    if magic not in _WAL_MAGIC or size < len(head) + page_size:
        return None
    if list(_FRAME_HEADER.unpack_from(head, _WAL_HEADER.size)) != salts:
        return None
    return f"its -wal file {os.fspath(wal)!r} holds changes not yet in the database"


def cut_short(path: Path) -> str | None:
    """How the SQLite database ``path`` is shorter than SQLite wrote it, or ``None``.

    SQLite writes whole pages, so a file that ends inside one was cut short (a copy
    onto a full disk, a download stopped half-way); it may still open, and a query
    reading a page whose end is lost gets no error but fewer rows. (A file cut at a
    page's end holds fewer pages than its header says, which SQLite refuses itself.)
    Only a store whose ``-wal`` holds no changes and whose ``-journal`` is empty or
    missing is checked: a writer may be copying pages into one that has them, and
    SQLite rolls a store back from its journal.

    The store's own bytes are read only through SQLite: closing a file this process
    opened on the store would drop every lock SQLite holds on it here, such as those
    of a sink writing to it, and let another process delete the sink's ``-wal``.
    """
    try:
        info = os.stat(path)
    except OSError:
        return None  # SQLite says why when it opens it
    size = info.st_size
    if not stat.S_ISREG(info.st_mode) or size < _DATABASE_HEADER_SIZE:
        return None
    if unmerged_wal(path) is not None or _size(Path(f"{os.fspath(path)}-journal")):
        return None
    page_size = _page_size(path)
    if page_size is not None and size % page_size:
        return f"it ends inside a page ({size:d} bytes, pages of {page_size:d})"
    return None


def _page_size(path: Path) -> int | None:
    """The page size of the SQLite database ``path``, or ``None`` when SQLite cannot
    read it as one (it says why when it opens it). Read as ``immutable``, which takes
    no lock and creates no file: WAL mode never changes a store's page size."""
    uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
    with (
        contextlib.suppress(sqlite3.Error),
        contextlib.closing(sqlite3.connect(uri, uri=True)) as conn,
    ):
        # Reads and checks the first page; the page size alone is SQLite's default for
        # any file that is no database.
        conn.execute("PRAGMA schema_version").fetchone()
        found: int = conn.execute("PRAGMA page_size").fetchone()[0]
        return found
    return None


def odd_journal(path: Path) -> str | None:
    """Why the ``-journal`` beside the SQLite database ``path`` is no file SQLite can
    open, or ``None``. SQLite opens a journal it finds there, to roll the store back
    from it, before it reads anything: it waits forever on a FIFO, and fails on a
    directory or a device with a bare I/O error."""
    journal = f"{os.fspath(path)}-journal"
    try:
        info = os.stat(journal)
    except OSError:
        return None  # none there (SQLite looks with stat too)
    if stat.S_ISREG(info.st_mode):
        return None
    kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a file"
    return f"the -journal beside it, {journal!r}, is {kind}"


def starts_like_sqlite(path: Path) -> bool:
    """Whether ``path`` is a file that starts like an SQLite database."""
    try:
        found = _head(path, len(SQLITE_HEADER))
    except OSError:
        return False
    return found is not None and found[0] == SQLITE_HEADER


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _head(path: Path, count: int) -> tuple[bytes, int] | None:
    """The first ``count`` bytes of the regular file ``path`` and its size, or ``None``
    when it is something else: opened without waiting, so a FIFO put in a store's
    place, which would wait for a writer, is only looked at."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        head = b""
        while len(head) < count:
            chunk = os.read(fd, count - len(head))
            if not chunk:
                break
            head += chunk
        return head, info.st_size
    finally:
        os.close(fd)
