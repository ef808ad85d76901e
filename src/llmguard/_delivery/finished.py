"""A finished span in the compact form the delivery queue keeps, and its record.

When a span ends, what its record needs is taken into one plain tuple (`Finished`):
ids and times as integers, text, and content packed as JSON bytes. The span itself is
then free to go. For a traced call such a tuple holds nothing the garbage collector
follows (a generator's `StreamInfo` aside), so the collector stops tracking it at its
first pass: thousands of them waiting in the queue
cost nothing at each collection, where as many spans -- objects with slots, tracked
for as long as they live -- were promoted to the oldest generation and walked again
at every full collection, on whichever thread happened to allocate.

The record is built from the tuple on the delivery thread by `build`, which also says
which content it unpacked from JSON: content that reaches a sink unchanged is written
from those bytes (`records.encode_with`) instead of being serialized again.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from llmguard._core import records
from llmguard._core.content import CONTENT_JSON_FACTOR, json_loader
from llmguard._core.records import Record, build_span_fields, iso_times

__all__ = ["Built", "Finished", "build"]

Finished: TypeAlias = tuple[Any, ...]
"""``(trace_id, span_id, parent_id, start_ns, duration_ns, name, kind, status,
error_type, error_message, input, input_size, output, output_size, stream, fields,
metadata)``: ids are integers (``parent_id`` 0 for a root), ``input`` and ``output``
are ``None`` when not captured, packed JSON (``bytes``) or a snapshot, each with the
size it was weighed at; ``fields`` and ``metadata`` are dicts or ``None``."""

Built: TypeAlias = tuple[Record, bytes | None, bytes | None, tuple[int, int]]
"""What `build` returns: the record; the JSON its input and output were unpacked from
(``None`` for content that was not packed); upper bounds of their JSON sizes."""


def build(finished: Finished, service: str | None) -> Built:
    """The record of a finished span (content as captured, not bounded or redacted).

    Raises:
        TypeError: A field set on the span does not fit the record.
    """
    (
        trace, span, parent, start, duration, name, kind, status, error_type,
        error_message, captured_in, in_size, captured_out, out_size, stream, fields,
        metadata,
    ) = finished  # fmt: skip
    loads = _loads or _load()
    if type(captured_in) is bytes:
        input_json: bytes | None = captured_in
        captured_in = loads(captured_in)
    else:
        input_json = None
        in_size *= CONTENT_JSON_FACTOR
    if type(captured_out) is bytes:
        output_json: bytes | None = captured_out
        captured_out = loads(captured_out)
    else:
        output_json = None
        out_size *= CONTENT_JSON_FACTOR
    start_text, end_text = iso_times(start, duration)
    values = (
        # The hex digits of the ids, as W3C Trace Context writes them (32 and 16).
        trace.to_bytes(16, "big").hex(),
        span.to_bytes(8, "big").hex(),
        parent.to_bytes(8, "big").hex() if parent else None,
        kind,
        name,
        start_text,
        end_text,
        duration / 1e6,
        status,
        error_type,
        error_message,
        service,
        captured_in,
        captured_out,
        stream,
        {} if metadata is None else metadata,
    )
    record = build_span_fields(values, fields) if fields else records.build_span_record(*values)
    return record, input_json, output_json, (in_size, out_size)


_loads: Any = None


def _load() -> Any:
    global _loads
    _loads = json_loader()
    return _loads
