"""Time ranges over the records' start times, and the error the query layer raises."""

from __future__ import annotations

from dataclasses import dataclass

from llmguard._core.records import iso_bound

__all__ = ["DatasetError", "Window"]


class DatasetError(Exception):
    """A file that cannot be read as records, or a query that cannot be answered.

    Its message is one line meant for the person at the terminal.
    """


@dataclass(frozen=True, slots=True)
class Window:
    """A time range over the records' start times: ``since`` included, ``until`` not.

    Args:
        since: ISO 8601 lower bound, or ``None`` for no bound.
        until: ISO 8601 upper bound, or ``None`` for no bound.
    """

    since: str | None = None
    until: str | None = None

    @classmethod
    def parse(cls, since: str | None, until: str | None) -> Window:
        """Build a window from bounds as typed; dates are taken as midnight UTC.

        Raises:
            DatasetError: A bound is not an ISO 8601 date or time, or ``since`` is not
                before ``until``.
        """
        try:
            low = None if since is None else iso_bound(since)
            high = None if until is None else iso_bound(until)
        except ValueError as exc:
            raise DatasetError(str(exc)) from None
        if low is not None and high is not None and low >= high:
            raise DatasetError(f"empty time range: {since} is not before {until}")
        return cls(low, high)

    @classmethod
    def parse_range(cls, text: str) -> Window:
        """Parse ``A..B`` (either side may be empty) as a window.

        Raises:
            DatasetError: ``text`` is not two ISO 8601 bounds around ``..``.
        """
        low, sep, high = text.partition("..")
        if not sep:
            raise DatasetError(f"a range is START..END (ISO 8601 dates or times), not {text!r}")
        return cls.parse(low.strip() or None, high.strip() or None)

    def __str__(self) -> str:
        return f"{self.since or '…'} .. {self.until or '…'}"
