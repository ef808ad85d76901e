"""Record filters shared by the readers: time bounds and in-Python matching."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from llmguard._core.records import Record

__all__ = ["TimeBound", "check_limit", "filter_records", "iso_bound"]

TimeBound: TypeAlias = "str | datetime"
"""A time bound: an ISO 8601 string or a datetime (naive ones are taken as UTC)."""


def iso_bound(value: TimeBound) -> str:
    """Write a time bound the way records write their times, so strings compare as times.

    Args:
        value: An ISO 8601 date or time (``Z`` and offsets accepted) or a datetime.

    Returns:
        The UTC time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.

    Raises:
        ValueError: ``value`` is a string that is not an ISO 8601 date or time, or the
            time falls outside years 1 to 9999 once moved to UTC.
    """
    if isinstance(value, str):
        text = value.strip()
        # datetime.fromisoformat accepts a "Z" suffix only from Python 3.11 on.
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO 8601 date or time: {value!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    try:
        utc = value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"time out of range once in UTC: {value.isoformat()}") from None
    # strftime's %Y does not pad years before 1000 on every platform; strings would
    # then no longer compare as times.
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S.%f}Z"


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
    for record in records:
        if (
            (trace_id is None or record.trace_id == trace_id)
            and (kind is None or record.kind == kind)
            and (name is None or record.name == name)
            and (status is None or record.status == status)
            and (low is None or record.start >= low)
            and (high is None or record.start < high)
        ):
            yield record
            count += 1
            if count == limit:
                return
