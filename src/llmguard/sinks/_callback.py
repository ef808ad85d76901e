"""A sink that hands each record to a function."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from llmguard._core.records import Record
from llmguard.exceptions import ConfigurationError, PartiallyDelivered

__all__ = ["CallbackSink"]


class CallbackSink:
    """Calls ``fn(record)`` for each record, oldest first.

    When ``fn`` raises, the rest of the batch is still delivered and the first exception
    is raised afterwards, so one bad record does not hide the others.

    Args:
        fn: Called with every record; its return value is ignored.

    Raises:
        ConfigurationError: ``fn`` is not callable.
    """

    def __init__(self, fn: Callable[[Record], object]) -> None:
        if not callable(fn):
            raise ConfigurationError(f"CallbackSink(fn={fn!r}): expected a callable")
        self.fn = fn

    def emit(self, batch: Sequence[Record]) -> None:
        """Call ``fn`` with each record of the batch."""
        fn = self.fn
        first_error: Exception | None = None
        failed = 0
        for record in batch:
            try:
                fn(record)
            except Exception as exc:
                failed += 1
                if first_error is None:
                    first_error = exc
        if first_error is not None:
            # The others were handed over: they count as delivered.
            raise PartiallyDelivered(delivered=len(batch) - failed) from first_error

    def flush(self, timeout: float | None = None) -> None:
        """Nothing to do: ``fn`` has seen every record when `emit` returns."""

    def close(self) -> None:
        """Nothing to release."""
