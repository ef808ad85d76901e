"""What happens to a record before any sink sees it: sampling, redaction, content bounds."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from llmguard._core.content import fit, safe_repr
from llmguard._core.records import Record, iso_time

if TYPE_CHECKING:
    from llmguard._delivery.settings import Settings


def error_message(exc: BaseException) -> str:
    """``str(exc)`` cut to 300 characters, or a stand-in when that raises; never raises."""
    try:
        return str(exc)[:300]
    except Exception:
        return safe_repr(exc, 300)


def internal_record(problem: str, exc: BaseException | None, settings: Settings) -> Record:
    """An ``internal`` record describing a failure of llmguard's own machinery."""
    now = iso_time(time.time_ns())
    return Record(
        trace_id=f"{random.getrandbits(128) or 1:032x}",
        span_id=f"{random.getrandbits(64) or 1:016x}",
        kind="internal",
        name=problem,
        start=now,
        end=now,
        duration_ms=0.0,
        status="error",
        error_type=None if exc is None else type(exc).__name__,
        error_message=None if exc is None else error_message(exc),
        service=settings.service,
    )


_SAMPLE_SCALE = 2.0**64


def sample(record: Record, rate: float) -> Record | None:
    """Apply ``sample_rate``: the record to deliver, or ``None`` when it is sampled out.

    A trace is in the sample when the low 64 bits of its id, as a fraction of 2**64,
    are below the rate: decided by the trace id alone, so every span of a trace agrees,
    in every process. Records that are always kept (errors, limit hits, retried calls,
    feedback) are delivered whatever the decision, with their weight unchanged; other
    records of a sampled trace are weighted ``1 / rate``.
    """
    if rate >= 1.0 or _always_kept(record):
        return record
    if (int(record.trace_id[-16:], 16) / _SAMPLE_SCALE) >= rate:
        return None
    return dataclasses.replace(record, sample_weight=record.sample_weight / rate)


def _always_kept(record: Record) -> bool:
    if record.status != "ok" or record.kind in ("feedback", "internal"):
        return True
    attempt = record.attempt
    if attempt is None or record.kind not in ("llm", "attempt"):
        return False
    # A retried call, and the attempts after its first.
    retried = attempt.get("count", 1) if record.kind == "llm" else attempt.get("number", 1)
    return isinstance(retried, int) and retried > 1


def process(
    record: Record, settings: Settings, report: Callable[[str, BaseException | None], None]
) -> Record | None:
    """Sample, redact, then bound a record's captured content; what every sink receives.

    ``None`` when the record is sampled out (see `sample`). A redactor that raises drops
    the record's content and says so in its metadata: content that could not be cleaned
    is never delivered.
    """
    if settings.sample_rate < 1.0:
        sampled = sample(record, settings.sample_rate)
        if sampled is None:
            return None
        record = sampled
    for redactor in settings.redact:
        try:
            record = redactor(record)
        except Exception as exc:
            if settings.strict:
                raise
            report("a redactor failed; the record's content was dropped", exc)
            return _without_content(record, exc)
        if not isinstance(record, Record):
            raise TypeError(f"redactor {redactor!r} returned {type(record).__name__}, not Record")
    limit = settings.max_content_bytes
    if record.input is None and record.output is None:
        return record
    new_input, input_digest = fit(record.input, limit)
    new_output, output_digest = fit(record.output, limit)
    if input_digest is None and output_digest is None:
        return record
    truncated = {}
    if input_digest is not None:
        truncated["input"] = input_digest
    if output_digest is not None:
        truncated["output"] = output_digest
    return dataclasses.replace(record, input=new_input, output=new_output, truncated=truncated)


_OWN_METADATA = ("llmguard.", "otel.")


def _without_content(record: Record, exc: Exception) -> Record:
    """The record stripped of everything a redactor cleans, for when one failed.

    That is what `llmguard.redact.DEFAULT` treats as content: input, output, the error
    message, text in metadata values and the offending values in an attempt's errors.
    Metadata that cannot hold text (numbers, booleans) stays, and so does llmguard's own
    (keys starting with ``llmguard.`` or ``otel.``).
    """
    metadata = {
        k: v
        for k, v in record.metadata.items()
        if k.startswith(_OWN_METADATA) or v is None or isinstance(v, (bool, int, float))
    }
    metadata["llmguard.redaction"] = f"failed: {type(exc).__name__}"
    attempt = record.attempt
    if attempt is not None and "errors" in attempt:
        attempt = {k: v for k, v in attempt.items() if k != "errors"}
    return dataclasses.replace(
        record,
        input=None,
        output=None,
        error_message=None,
        metadata=metadata,
        attempt=attempt,
    )
