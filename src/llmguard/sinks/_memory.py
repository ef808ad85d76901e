"""A sink that keeps records in memory, for tests and interactive use."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence

from llmguard._core.records import Record
from llmguard.exceptions import ConfigurationError
from llmguard.sinks._fork import renew_lock_after_fork

__all__ = ["MemorySink"]


class MemorySink:
    """Keeps every emitted record in a list, oldest first.

    Args:
        max_records: Keep at most this many records, dropping the oldest; ``None`` keeps
            all of them.

    Raises:
        ConfigurationError: ``max_records`` is not a positive integer.
    """

    def __init__(self, max_records: int | None = None) -> None:
        if max_records is not None and (isinstance(max_records, bool) or max_records < 1):
            raise ConfigurationError(
                f"MemorySink(max_records={max_records!r}): expected a positive integer or None"
            )
        self.max_records = max_records
        self._lock = threading.Lock()
        # A bounded deque drops the oldest record in O(1) when a new one arrives.
        self._records: deque[Record] = deque(maxlen=max_records)
        renew_lock_after_fork(self)

    @property
    def records(self) -> list[Record]:
        """A copy of the kept records, oldest first."""
        with self._lock:
            return list(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def emit(self, batch: Sequence[Record]) -> None:
        """Append the batch."""
        with self._lock:
            self._records.extend(batch)

    def flush(self, timeout: float | None = None) -> None:
        """Nothing to do: records are visible as soon as they are emitted."""

    def close(self) -> None:
        """Nothing to release; the records stay readable after closing."""

    def clear(self) -> None:
        """Forget every kept record."""
        with self._lock:
            self._records.clear()

    def find(
        self,
        kind: str | None = None,
        name: str | None = None,
        trace_id: str | None = None,
        status: str | None = None,
    ) -> list[Record]:
        """The kept records matching every given field, oldest first.

        Args:
            kind: Keep records of this kind (``"llm"``, ``"tool"``, ...).
            name: Keep records with this name.
            trace_id: Keep records of this trace.
            status: Keep records with this status (``"ok"``, ``"error"``, ``"limit"``).

        Returns:
            The matching records; all of them when no field is given.
        """
        return [
            record
            for record in self.records
            if (kind is None or record.kind == kind)
            and (name is None or record.name == name)
            and (trace_id is None or record.trace_id == trace_id)
            and (status is None or record.status == status)
        ]
