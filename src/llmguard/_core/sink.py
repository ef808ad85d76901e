"""The contract every sink meets, kept at the bottom so delivery can name it.

`llmguard.sinks` exports it; the delivery settings annotate with it without loading
the built-in sinks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from llmguard._core.records import Record

__all__ = ["Sink"]


@runtime_checkable
class Sink(Protocol):
    """Where finished records go.

    llmguard calls these methods from its own background thread, one call at a time
    per sink, so a sink needs no locking of its own for them. A sink may raise or block:
    llmguard isolates it from the application and from the other sinks.
    """

    def emit(self, batch: Sequence[Record]) -> None:
        """Take a batch of finished records, oldest first."""

    def flush(self, timeout: float | None = None) -> None:
        """Make everything emitted so far durable or visible, within ``timeout`` seconds."""

    def close(self) -> None:
        """Release files and connections; no more batches follow."""
