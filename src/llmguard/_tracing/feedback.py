"""``lg.feedback``: a user's verdict on a traced call, recorded beside its trace."""

from __future__ import annotations

import math
import re

from llmguard._tracing.spans import Span
from llmguard.exceptions import ConfigurationError

__all__ = ["feedback"]

_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")


def feedback(
    trace_id: str, score: float | bool, comment: str | None = None, user: str | None = None
) -> None:
    """Record feedback on a trace: a ``feedback`` record in the trace ``trace_id``.

    ``trace_id`` is the trace's id as records, `current_trace_id` and
    ``GuardError.trace_id`` give it (32 hex digits). ``score`` is a number (a rating)
    or a bool (thumbs up or down); ``comment`` and ``user`` are optional strings. The
    record has kind ``"feedback"`` and name ``"feedback"``, no parent, its own span id,
    and ``score`` (plus ``comment`` and ``user`` when given) in its ``metadata``; it
    goes to the sinks like any other record, whenever the feedback arrives.

    Raises:
        ConfigurationError: ``trace_id`` is not 32 hex digits (or is all zeros),
            ``score`` is not a finite number or a bool, or ``comment`` or ``user`` is
            not a string.
    """
    if not isinstance(trace_id, str) or not _TRACE_ID.fullmatch(trace_id):
        raise ConfigurationError(f"trace_id must be 32 hex digits, not {trace_id!r}")
    trace_int = int(trace_id, 16)
    if not trace_int:
        raise ConfigurationError("trace_id must not be all zeros")
    if isinstance(score, bool):
        pass
    elif not isinstance(score, int | float) or not math.isfinite(score):
        raise ConfigurationError(f"score must be a finite number or a bool, not {score!r}")
    for option, value in (("comment", comment), ("user", user)):
        if value is not None and not isinstance(value, str):
            raise ConfigurationError(f"{option} must be a string, not {value!r}")
    record = Span("feedback", "feedback")
    record.start(parent=None)
    # Whatever span is current now, the record belongs to the given trace, at its top.
    record.trace_id_int = trace_int
    record.parent_id_int = 0
    metadata: dict[str, object] = {"score": score}
    if comment is not None:
        metadata["comment"] = comment
    if user is not None:
        metadata["user"] = user
    record.set_attributes(metadata)
    record.end()
