"""Reading records back from a file, whatever sink wrote it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from llmguard._core.records import Record
from llmguard.sinks._filters import TimeBound, check_limit, filter_records, iso_bound
from llmguard.sinks._jsonl import last_copies
from llmguard.sinks._paths import SQLITE_HEADER
from llmguard.sinks._sqlite import SQLiteStore

__all__ = ["read_records"]


def read_records(
    path: str | os.PathLike[str],
    *,
    trace_id: str | None = None,
    kind: str | None = None,
    name: str | None = None,
    status: str | None = None,
    since: TimeBound | None = None,
    until: TimeBound | None = None,
    limit: int | None = None,
) -> Iterator[Record]:
    """Read the records of an SQLite store or a JSON Lines file.

    The format is told by the file's first bytes, not its name. Records from a store come
    ordered by start time; records from a JSON Lines file come in file order. A span
    written more than once (delivery is at least once) is read once, as the commands
    count it: its last copy. A store from before layout version 4 is read that way
    without being changed; a JSON Lines file is read twice for it (a pipe is copied to
    a temporary file as it is read).

    Args:
        path: The file written by `SQLiteSink` or `JSONLSink`.
        trace_id: Keep records of this trace.
        kind: Keep records of this kind.
        name: Keep records with this name.
        status: Keep records with this status.
        since: Keep records that started at or after this time (ISO string or datetime).
        until: Keep records that started before this time.
        limit: Stop after this many records.

    Returns:
        An iterator reading the records as it goes.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: A time bound or ``limit`` is invalid, or ``path`` is a pipe
            carrying an SQLite store.
    """
    # Checked first: a bad filter fails at the call, before anything is opened.
    check_limit(limit)
    for bound in (since, until):
        if bound is not None:
            iso_bound(bound)
    file = open(path, "rb")  # noqa: SIM115 - closed here, or by _piped once read
    try:
        header = file.read(len(SQLITE_HEADER))
        piped = not file.seekable()
    except BaseException:
        file.close()
        raise
    if not piped:
        file.close()  # _jsonl opens the file again as it is iterated
    filters = {"trace_id": trace_id, "kind": kind, "name": name, "status": status}
    if header != SQLITE_HEADER:
        # A pipe (a FIFO, /dev/stdin) cannot be opened again for the bytes just read.
        records = _piped(file, header, path) if piped else _jsonl(path)
        return filter_records(records, since=since, until=until, limit=limit, **filters)
    if piped:
        file.close()
        # SQLite reads a store by seeking in its file: the pipe's bytes are gone.
        raise ValueError(
            f"{os.fspath(path)!r} is a pipe carrying an SQLite store, which SQLite can only "
            "read from its file: give the store's own path"
        )
    return _read_store(path, since, until, limit, filters)


def _jsonl(path: str | os.PathLike[str]) -> Iterator[Record]:
    with open(path, "rb") as file:
        yield from last_copies(file, path)


def _piped(file: BinaryIO, header: bytes, path: str | os.PathLike[str]) -> Iterator[Record]:
    """The records of a pipe whose first bytes, ``header``, were read already: copied
    to a temporary file, which `last_copies` reads twice."""
    with file, tempfile.TemporaryFile() as copy:
        copy.write(header)
        shutil.copyfileobj(file, copy)
        copy.seek(0)
        yield from last_copies(copy, path)


def _read_store(
    path: str | os.PathLike[str],
    since: TimeBound | None,
    until: TimeBound | None,
    limit: int | None,
    filters: dict[str, str | None],
) -> Iterator[Record]:
    # Opening inside the generator ties the connection's life to the iteration: it is
    # closed when the iterator is exhausted, closed or collected.
    with SQLiteStore(path) as store:
        yield from store.records(since=since, until=until, limit=limit, **filters)
