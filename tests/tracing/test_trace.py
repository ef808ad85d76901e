"""Spans, lg.span, current_span and context propagation (llmguard._tracing.spans)."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest

import llmguard as lg
from llmguard.testing import capture
from tests._helpers.tracing import by_name


def test_span_records_name_attributes_and_timing() -> None:
    """A span's record holds its name, attributes as metadata, and a positive duration."""
    with capture() as records, lg.span("retrieve", k=5, source="kb") as s:
        s.set_attribute("hits", [1, 2])
    (record,) = records
    assert record.name == "retrieve"
    assert record.kind == "span"
    assert record.status == "ok"
    assert record.metadata == {"k": 5, "source": "kb", "hits": [1, 2]}
    assert record.duration_ms > 0
    assert record.start <= record.end
    assert record.parent_id is None


def test_ids_are_w3c_shaped() -> None:
    """Trace ids are 32 hex digits and span ids 16, never all zeros."""
    with capture() as records, lg.span("a") as s:
        assert lg.current_trace_id() == s.trace_id
    assert re.fullmatch(r"[0-9a-f]{32}", records[0].trace_id)
    assert re.fullmatch(r"[0-9a-f]{16}", records[0].span_id)
    assert records[0].trace_id != "0" * 32


def test_nested_spans_share_trace_and_link_parents() -> None:
    """A span opened inside another is its child in the same trace."""
    with capture() as records:
        with lg.span("outer") as outer, lg.span("inner") as inner:
            assert lg.current_span() is inner
        assert lg.current_span() is None
    found = by_name(records)
    assert found["inner"].parent_id == outer.span_id
    assert found["inner"].trace_id == found["outer"].trace_id
    assert inner.parent_id == outer.span_id


def test_record_fields_come_from_attributes_of_the_same_name() -> None:
    """Attributes named like record fields fill those fields, not metadata."""
    with capture() as records, lg.span("call", model="gpt-4o", tags=["a", "b"]) as s:
        s.set_attribute("usage", lg.Usage(input=3, output=4, total=7))
        s.set_attribute("prompt_version", "v1")
    (record,) = records
    assert record.model == "gpt-4o"
    assert record.tags == ("a", "b")
    assert record.usage == lg.Usage(input=3, output=4, total=7)
    assert record.prompt_version == "v1"
    assert record.metadata == {}


def test_attribute_values_are_copied_when_set() -> None:
    """Mutating a value after setting it does not change the record."""
    docs = ["d1"]
    with capture() as records, lg.span("s", docs=docs):
        docs.append("d2")
    assert records[0].metadata["docs"] == ["d1"]


def test_span_records_exception_and_reraises_it_unchanged() -> None:
    """An exception leaving a span marks it failed and propagates as the same object."""
    error = KeyError("missing")
    with capture() as records, pytest.raises(KeyError) as raised, lg.span("s"):
        raise error
    assert raised.value is error
    assert records[0].status == "error"
    assert records[0].error_type == "KeyError"
    assert records[0].error_message == "'missing'"


def test_set_status_rejects_unknown_status() -> None:
    """set_status names the allowed values when given another."""
    with lg.span("s") as s, pytest.raises(lg.ConfigurationError, match="'done'"):
        s.set_status("done")  # type: ignore[arg-type]


def test_set_status_limit_with_message() -> None:
    """A span can end with status limit and a message."""
    with capture() as records, lg.span("s") as s:
        s.set_status("limit", "too many steps")
    assert (records[0].status, records[0].error_message) == ("limit", "too many steps")


async def test_async_span() -> None:
    """``async with lg.span`` opens and ends a span like ``with``."""
    with capture() as records:
        async with lg.span("a") as outer, lg.span("b"):
            await asyncio.sleep(0)
    assert by_name(records)["b"].parent_id == outer.span_id


def test_span_name_is_checked() -> None:
    """An empty span name is a ConfigurationError."""
    with pytest.raises(lg.ConfigurationError, match="non-empty string"):
        lg.span("")


def test_threads_without_propagate_start_their_own_traces() -> None:
    """A plain thread does not inherit the current span: it starts a new trace."""
    with capture() as records, lg.span("root") as root:
        thread = threading.Thread(target=lambda: lg.span("orphan").__enter__().end())
        thread.start()
        thread.join()
    orphan = by_name(records)["orphan"]
    assert orphan.parent_id is None
    assert orphan.trace_id != root.trace_id


def test_span_ends_once() -> None:
    """Ending a span twice hands one record to delivery."""
    with capture() as records:
        s = lg.span("s")
        with s:
            pass
        s.end()
    assert len(records) == 1
    assert s.ended


def test_record_field_attributes_are_converted_or_kept_as_metadata() -> None:
    """usage as a mapping becomes Usage; a value that can't fill its field goes to metadata."""
    with capture() as records, lg.span("s", usage={"input": 3, "output": 1}, tags="one") as s:
        s.set_attribute("cost_usd", "not a number")
        s.set_attribute("attempt", {"number": 1})
    (record,) = records
    assert record.usage == lg.Usage(input=3, output=1)
    assert record.tags == ("one",)
    assert record.cost_usd is None
    assert record.metadata == {"cost_usd": "not a number"}
    assert record.attempt == {"number": 1}
    record.to_json()
