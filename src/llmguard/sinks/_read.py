"""Reading records back from a file, whatever sink wrote it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from llmguard.sinks._filters import check_limit, filter_records, iso_bound
from llmguard.sinks._jsonl import read_jsonl
from llmguard.sinks._paths import SQLITE_HEADER
from llmguard.sinks._sqlite import SQLiteStore

if TYPE_CHECKING:
    from llmguard._core.records import Record
    from llmguard.sinks._filters import TimeBound

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
    ordered by start time; records from a JSON Lines file come in file order.

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
        ValueError: A time bound or ``limit`` is invalid.
    """
    with open(path, "rb") as file:
        header = file.read(len(SQLITE_HEADER))
    filters = {"trace_id": trace_id, "kind": kind, "name": name, "status": status}
    if header != SQLITE_HEADER:
        return filter_records(read_jsonl(path), since=since, until=until, limit=limit, **filters)
    # Checked now, while the store is opened only once iteration starts.
    check_limit(limit)
    for bound in (since, until):
        if bound is not None:
            iso_bound(bound)
    return _read_store(path, since, until, limit, filters)


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
