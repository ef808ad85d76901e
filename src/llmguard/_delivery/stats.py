"""The shapes delivery deals in: a span waiting to become a record, and the counts it reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from llmguard._core.records import Record
    from llmguard._delivery.settings import Settings

__all__ = ["DeliveryStats", "FlushResult", "Pending", "SinkStats"]


class Pending(Protocol):
    """A finished span waiting to become a record."""

    def to_record(self, settings: Settings) -> Record:
        """Build the record, with content as captured and not yet bounded or redacted."""


@dataclass(frozen=True, slots=True)
class SinkStats:
    """Delivery counts for one sink."""

    name: str
    delivered: int
    dropped: int
    errors: int
    pending: int


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """Delivery counts since the process (or the last ``configure(sinks=...)``) started.

    Attributes:
        emitted: Records handed to delivery.
        queued: Records waiting for the dispatcher now.
        dropped: Records dropped because the queue was full.
        internal_errors: Records whose processing (redaction, serialization) failed.
        sinks: Per-sink counts: delivered, dropped (backlog full), errors, pending.
    """

    emitted: int
    queued: int
    dropped: int
    internal_errors: int
    sinks: tuple[SinkStats, ...]


@dataclass(frozen=True, slots=True)
class FlushResult:
    """What a flush achieved; true when everything emitted before it was delivered.

    Attributes:
        complete: Every record emitted before the flush reached every sink in time.
        pending: Records not yet delivered, summed over the queue and every sink.
        sinks: Per-sink counts after the flush; a sink with ``pending > 0`` did not
            finish in time.
    """

    complete: bool
    pending: int
    sinks: tuple[SinkStats, ...]

    def __bool__(self) -> bool:
        return self.complete
