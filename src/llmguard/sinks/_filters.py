"""Record filters shared by the readers: time bounds and in-Python matching."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from llmguard._core.records import TimeBound, iso_bound

if TYPE_CHECKING:
    from llmguard._core.records import Record

__all__ = ["TimeBound", "check_limit", "filter_records", "iso_bound"]


def check_limit(limit: int | None) -> None:
    """Reject a negative or non-integer ``limit``.

    Raises:
        ValueError: ``limit`` is not ``None`` or an integer >= 0.
    """
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise ValueError(f"limit must be an integer >= 0 or None, not {limit!r}")


def filter_records(
    records: Iterable[Record],
    *,
    trace_id: str | None = None,
    kind: str | None = None,
    name: str | None = None,
    status: str | None = None,
    since: TimeBound | None = None,
    until: TimeBound | None = None,
    limit: int | None = None,
) -> Iterator[Record]:
    """The records matching every given filter, in their original order.

    Args:
        records: The records to filter.
        trace_id: Keep records of this trace.
        kind: Keep records of this kind.
        name: Keep records with this name.
        status: Keep records with this status.
        since: Keep records that started at or after this time.
        until: Keep records that started before this time.
        limit: Stop after this many records.

    Returns:
        An iterator filtering ``records`` as it goes.

    Raises:
        ValueError: A time bound or ``limit`` is invalid.
    """
    # Checked here, not in the generator, so a bad filter fails at the call.
    check_limit(limit)
    low = None if since is None else iso_bound(since)
    high = None if until is None else iso_bound(until)
    return _matching(records, trace_id, kind, name, status, low, high, limit)


def _matching(
    records: Iterable[Record],
    trace_id: str | None,
    kind: str | None,
    name: str | None,
    status: str | None,
    low: str | None,
    high: str | None,
    limit: int | None,
) -> Iterator[Record]:
    if limit == 0:
        return
    count = 0
    timed = low is not None or high is not None
    for record in records:
        start = _utc(record.start) if timed else record.start
        if (
            (trace_id is None or record.trace_id == trace_id)
            and (kind is None or record.kind == kind)
            and (name is None or record.name == name)
            and (status is None or record.status == status)
            and (low is None or (start is not None and start >= low))
            and (high is None or (start is not None and start < high))
        ):
            yield record
            count += 1
            if count == limit:
                return


# A start time as llmguard writes it, which compares as a time as it is.
_WRITTEN = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def _utc(start: str) -> str | None:
    """A start time written as `iso_bound` writes bounds, so the two compare as times;
    ``None`` for a start that is no time. Another program's file may write its times
    with an offset (``10:00+02:00`` is 08:00 UTC, though its text sorts after 09:00Z)."""
    if _WRITTEN.fullmatch(start):
        return start
    try:
        return iso_bound(start)
    except (ValueError, TypeError):
        return None
