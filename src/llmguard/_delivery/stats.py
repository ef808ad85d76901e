"""The shapes delivery deals in: a span waiting to become a record, and the counts it reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from llmguard._core.records import Record
    from llmguard._delivery.finished import Finished
    from llmguard._delivery.settings import Settings

__all__ = ["DeliveryStats", "FlushResult", "Pending", "SinkStats"]


class Pending(Protocol):
    """A finished span waiting to become a record."""

    @property
    def weight(self) -> int:
        """What it holds, in bytes as `content_size` counts them: the queue's byte bound
        weighs every record by this, exactly, when it is handed over."""

    def shed_content(self, why: str) -> bool:
        """Leave out its captured input and output, noting ``why`` in its metadata;
        whether it had any. For one that weighs more than the queue can ever hold."""

    def compact(self) -> Finished | None:
        """Its compact form, for the queue to keep instead of it; ``None`` when making
        it needs work that must not run on the caller's thread (then it is queued)."""

    def finished(self) -> Finished:
        """Its compact form, all work done: called on the delivery thread."""

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

    The counts are read at one instant, and account for every record: for each sink,
    ``emitted == queued + in_flight + dropped + sampled_out + delivered + pending +
    dropped at the sink``. llmguard's own ``internal`` records are not counted.

    Attributes:
        emitted: Records handed to delivery.
        queued: Records waiting for the dispatcher now.
        dropped: Records dropped before any sink: the queue was full (in records or in
            bytes, see ``max_queue_bytes``), or the record could not be built.
        internal_errors: Failures of llmguard's processing: records that could not be
            built (counted in ``dropped`` too) and redactors that raised (those records
            were delivered without their content).
        sinks: Per-sink counts: delivered, dropped (backlog full, the sink raised, or
            shut down before taking them), errors (``emit`` calls that raised),
            pending.
        in_flight: Records the dispatcher has taken and not yet handed to the sinks.
        sampled_out: Records left out by ``sample_rate``, on purpose.
    """

    emitted: int
    queued: int
    dropped: int
    internal_errors: int
    sinks: tuple[SinkStats, ...]
    in_flight: int = 0
    sampled_out: int = 0


@dataclass(frozen=True, slots=True)
class FlushResult:
    """What a flush achieved; true only when every record it waited for was delivered.

    Attributes:
        complete: None is pending and none was dropped since the previous flush, before
            the sinks or at any of them: every record emitted since then reached every
            sink. Records left out by ``sample_rate`` do not count against it.
        pending: Records not yet delivered, summed over the queue, the dispatcher and
            every sink.
        sinks: Per-sink counts after the flush (totals since the pipeline started); a
            sink with ``pending > 0`` did not finish in time, one with ``dropped > 0``
            lost records.
        dropped: Records dropped since the previous flush, before the sinks and at
            each of them (a record dropped at two sinks counts twice).
    """

    complete: bool
    pending: int
    sinks: tuple[SinkStats, ...]
    dropped: int = 0

    def __bool__(self) -> bool:
        return self.complete
