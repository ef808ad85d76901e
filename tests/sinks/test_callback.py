"""Tests for llmguard.sinks.CallbackSink."""

from __future__ import annotations

import pytest

from llmguard._core.records import Record
from llmguard.exceptions import ConfigurationError, PartiallyDelivered
from llmguard.sinks import CallbackSink, Sink


def _record(index: int) -> Record:
    return Record(
        trace_id="trace-a",
        span_id=f"{index:016x}",
        name="triage",
        start="2025-01-01T00:00:00.000000Z",
        end="2025-01-01T00:00:01.000000Z",
        duration_ms=1000.0,
    )


def test_calls_fn_for_each_record_in_order() -> None:
    """``fn`` sees every record of every batch, oldest first."""
    seen: list[Record] = []
    sink = CallbackSink(seen.append)
    records = [_record(i) for i in range(3)]
    sink.emit(records[:2])
    sink.emit([])
    sink.emit(records[2:])
    sink.flush()
    sink.close()
    assert seen == records


def test_failing_fn_still_sees_the_rest_of_the_batch() -> None:
    """When ``fn`` raises, later records are delivered, and a `PartiallyDelivered`
    saying how many were taken is raised from the first error."""
    seen: list[str] = []

    def fn(record: Record) -> None:
        seen.append(record.span_id)
        if record.span_id != f"{2:016x}":
            raise RuntimeError(f"bad {record.span_id}")

    sink = CallbackSink(fn)
    with pytest.raises(PartiallyDelivered) as raised:
        sink.emit([_record(i) for i in range(4)])
    assert seen == [f"{i:016x}" for i in range(4)]
    assert raised.value.delivered == 1
    assert isinstance(raised.value.__cause__, RuntimeError)
    assert str(raised.value.__cause__) == f"bad {0:016x}"


def test_non_callable_is_refused() -> None:
    """A non-callable ``fn`` is a ConfigurationError naming it."""
    with pytest.raises(ConfigurationError, match="'not a function'"):
        CallbackSink("not a function")  # type: ignore[arg-type]


def test_is_a_sink() -> None:
    """CallbackSink meets the Sink protocol."""
    assert isinstance(CallbackSink(print), Sink)
