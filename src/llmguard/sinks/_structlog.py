"""A sink that turns records into structlog events in the application's own logs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from llmguard._core.records import Record

__all__ = ["StructlogSink"]

# A limit hit is llmguard doing its job, so it is a warning; an error is an error.
_METHODS = {"ok": "info", "limit": "warning", "error": "error"}


class EventLogger(Protocol):
    """What the sink needs of a logger: structlog's level methods."""

    def info(self, event: str, /, **kw: Any) -> Any: ...

    def warning(self, event: str, /, **kw: Any) -> Any: ...

    def error(self, event: str, /, **kw: Any) -> Any: ...


class StructlogSink:
    """Logs each record as one structlog event.

    The event is ``llmguard.<kind>`` (``llmguard.llm``, ``llmguard.tool``, ...) and its
    key/values are the record's fields that are set, except that ``name`` becomes
    ``span_name``: with structlog rendering into the standard library's ``logging``,
    ``name`` would collide with the ``LogRecord`` attribute of the same name. The level is
    ``info`` for status ``ok``, ``warning`` for ``limit`` and ``error`` for ``error``.

    Args:
        logger: The logger to use; default ``structlog.get_logger("llmguard")``.
    """

    def __init__(self, logger: EventLogger | None = None) -> None:
        if logger is None:
            # Imported here so that importing llmguard.sinks stays cheap.
            import structlog

            logger = structlog.get_logger("llmguard")
        self.logger: EventLogger = logger

    def emit(self, batch: Sequence[Record]) -> None:
        """Log one event per record."""
        logger = self.logger
        for record in batch:
            fields = record.to_dict()
            fields["span_name"] = fields.pop("name")
            log = getattr(logger, _METHODS[record.status])
            log(f"llmguard.{record.kind}", **fields)

    def flush(self, timeout: float | None = None) -> None:
        """Nothing to do: structlog hands events on as they are logged."""

    def close(self) -> None:
        """Nothing to release: the logger belongs to the application."""
