"""The OTel sink and an ``otel.parent_span_id`` it did not write.

llmguard records the id of the application's own OTel span a root record started in,
under the metadata key ``otel.parent_span_id``. An application can set an attribute of
that name too. A value that is not a span id must not cost the record its span, nor put
an id no exporter can encode on it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmguard as lg
from llmguard.sinks import MemorySink
from llmguard.sinks._otel import OTelSink


@pytest.fixture
def exported() -> Iterator[tuple[OTelSink, InMemorySpanExporter]]:
    """An OTel sink exporting to memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield OTelSink(tracer_provider=provider), exporter
    provider.shutdown()


@pytest.mark.parametrize(
    "value", ["zz", "", "0" * 16, "f" * 40, "-1", "0x12", " 1234567890abcdef", 12345]
)
def test_a_parent_id_that_is_no_span_id_is_ignored(
    exported: tuple[OTelSink, InMemorySpanExporter], value: object
) -> None:
    """The record is still exported, as a root span."""
    sink, exporter = exported
    memory = MemorySink()
    lg.configure(sinks=[memory], strict=True)
    try:
        with lg.span("probe", **{"otel.parent_span_id": value}):
            pass
    finally:
        lg.reset()
    sink.emit(memory.records)
    (span,) = exporter.get_finished_spans()
    assert (span.name, span.parent) == ("probe", None)


def test_a_real_parent_id_is_still_the_parent(
    exported: tuple[OTelSink, InMemorySpanExporter],
) -> None:
    """Sixteen hex digits, not all zero, are the parent span's id."""
    sink, exporter = exported
    memory = MemorySink()
    lg.configure(sinks=[memory], strict=True)
    try:
        with lg.span("probe", **{"otel.parent_span_id": "00f067aa0ba902b7"}):
            pass
    finally:
        lg.reset()
    sink.emit(memory.records)
    (span,) = exporter.get_finished_spans()
    assert span.parent is not None
    assert span.parent.span_id == 0x00F067AA0BA902B7


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=24))
def test_any_text_as_parent_id_gives_a_valid_span(text: str) -> None:
    """Whatever the text, the span is exported and its parent, if any, is a valid id."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    memory = MemorySink()
    lg.configure(sinks=[memory], strict=True)
    try:
        with lg.span("probe", **{"otel.parent_span_id": text}):
            pass
    finally:
        lg.reset()
    OTelSink(tracer_provider=provider).emit(memory.records)
    (span,) = exporter.get_finished_spans()
    assert span.parent is None or 0 < span.parent.span_id < 2**64


@pytest.mark.parametrize(
    ("timeout", "millis"),
    [
        (None, 30_000),
        (math.inf, 30_000),
        (math.nan, 0),
        (-1.0, 0),
        (0.25, 250),
        (1e300, 86_400_000),
    ],
)
def test_flush_hands_the_provider_a_timeout_it_can_use(timeout: float | None, millis: int) -> None:
    """Any timeout becomes whole milliseconds for force_flush; none raises."""
    asked: list[int] = []

    class Provider(TracerProvider):
        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            asked.append(timeout_millis)
            return True

    OTelSink(tracer_provider=Provider()).flush(timeout)
    assert asked == [millis]
