"""Finished spans in compact form, and records whose unchanged content is written from
the JSON it was captured as."""

from __future__ import annotations

import dataclasses
import gc
import json
import math
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard._core.records import encode_with
from llmguard._delivery.finished import build
from llmguard._delivery.processing import stage
from llmguard.sinks import MemorySink
from tests._helpers.strategies import captured_content

_CONTENT = captured_content(max_leaves=24)


def _finished(captured_in: Any, captured_out: Any) -> tuple[Any, ...]:
    with lg.span("work") as span:
        span.set_input(captured_in)
        span.set_output(captured_out)
    compact = span.compact()
    assert compact is not None
    return compact


def _fresh_json(record: lg.Record) -> bytes:
    """The record serialized from its values, as if nothing had been kept."""
    return dataclasses.replace(record).to_json()


# The examples hold content whose packed JSON could differ from a fresh one: keys out
# of order, NaN and infinities (null in a record), floats printed in exponent form,
# integers at and past 64 bits, escapes and non-ASCII, empty containers and tuples.
@settings(max_examples=40)
@given(captured_in=st.lists(_CONTENT, max_size=3) | st.dictionaries(st.text(), _CONTENT),
       captured_out=_CONTENT)  # fmt: skip
@example(
    captured_in={
        "b": [math.nan, -math.inf, 1e16, 5e-324, 2**64 - 1, -(2**63)],
        "a": 'é\u2028\x00\\"',
    },
    captured_out=(None, [{}, [], ""], {"z": 2**63, "y": True}),
)
@example(captured_in=[{"k": 1.5, "j": 0.1}, ()], captured_out={"": [math.inf, -(2**63)]})
def test_spliced_content_is_byte_for_byte_a_fresh_serialization(
    captured_in: Any, captured_out: Any
) -> None:
    """A record whose content is written from its packed JSON has exactly the JSON a
    fresh serialization of its values gives, whatever the content holds."""
    lg.configure(sinks=[MemorySink()])
    record, input_json, output_json, _ = build(_finished(captured_in, captured_out), "svc")
    spliced = encode_with(record, input_json, output_json)
    assert spliced is not None or (input_json is None and output_json is None)
    assert record.to_json() == _fresh_json(record)


# The captured input is replaced before delivery, so none of it reaches the record: small
# dicts do (with `_CONTENT`, drawing it took most of the time). A splice of the old
# input, or a size counted from it, fails every example.
@given(
    captured=st.dictionaries(
        st.text(max_size=4), captured_content(max_leaves=4), min_size=1, max_size=3
    ),
    other=st.text(),
)
def test_changed_content_is_serialized_from_its_new_value(captured: Any, other: str) -> None:
    """Only content that is still the unpacked value is spliced: a record whose input a
    redactor replaced is written from the replacement, its output from its JSON."""
    lg.configure(sinks=[MemorySink()])
    settings = lg.types.Settings()
    record, input_json, output_json, sizes = build(_finished(captured, ["out"]), None)
    staged = stage(record, settings, sizes, (input_json, output_json))
    assert staged is not None
    staged.record = dataclasses.replace(staged.record, input={"replaced": other})
    delivered, size = staged.finish()
    assert json.loads(delivered.to_json())["input"] == {"replaced": other}
    assert delivered.to_json() == _fresh_json(delivered)
    assert size == len(delivered.to_json())


def test_compact_spans_are_left_alone_by_the_garbage_collector() -> None:
    """What the queue keeps of a span holds nothing the collector follows: after one
    pass the collector no longer tracks it, however long it waits to be delivered."""
    lg.configure(sinks=[MemorySink()])
    compact = _finished([{"role": "user", "content": "hi"}], "hello")
    gc.collect()
    assert not gc.is_tracked(compact)


def test_a_span_with_work_left_for_delivery_is_queued_whole() -> None:
    """A span whose record is completed later (``fill_later``) has no compact form on
    the caller's thread; its callback runs when the record is built."""
    lg.configure(sinks=[MemorySink()])
    with lg.span("work") as span:
        span.fill_later(lambda s: s.fill_fields({"model": "m"}, {"filled": True}))
    assert span.compact() is None
    record, _, _, _ = build(span.finished(), None)
    assert record.model == "m"
    assert record.metadata == {"filled": True}
    assert span.compact() is not None  # the callback ran once


def test_delivered_records_are_written_as_a_fresh_serialization_would_write_them() -> None:
    """Through the pipeline with the default redactor: records with and without
    secrets, redacted or not, carry the JSON their values serialize to."""
    memory = MemorySink()
    lg.configure(sinks=[memory])

    @lg.trace
    def reply(messages: list[dict[str, str]], note: str) -> dict[str, Any]:
        return {"text": f"ok {note}", "n": len(messages), "ratio": 0.1}

    for i in range(40):
        secret = f" mail me at user{i}@example.com" if i % 3 == 0 else ""
        reply([{"role": "user", "content": f"question {i}{secret}"}], note='é\n"q"' * i)
    assert lg.flush(timeout=5)
    records = memory.records
    assert len(records) == 40
    for record in records:
        assert record.to_json() == _fresh_json(record)
    redacted = [r for r in records if "[email]" in json.dumps(r.input)]
    assert len(redacted) == 14
    assert all("@example.com" not in r.to_json().decode() for r in records)
