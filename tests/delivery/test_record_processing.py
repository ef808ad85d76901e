"""Tests for llmguard._delivery.processing: sampling, redaction and content bounds.

What happens to a record before any sink sees it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest

import llmguard as lg
from llmguard._core.records import Record
from llmguard._delivery import processing
from llmguard.sinks import MemorySink
from llmguard.testing import FakeAPIError, FakeLLM, capture
from tests._helpers.reliability import answer
from tests._helpers.times import T0, T1


def test_redactor_runs_before_every_sink() -> None:
    """Redactors see every record first; sinks and captures get the redacted record."""
    memory = MemorySink()

    def hide(record: lg.Record) -> lg.Record:
        return dataclasses.replace(record, input="[hidden]")

    lg.configure(sinks=[memory], redact=hide)
    with capture() as records:
        answer(5)
    lg.flush(timeout=5)
    assert records[0].input == "[hidden]"
    assert memory.records[0].input == "[hidden]"


def test_large_content_is_truncated_with_a_digest() -> None:
    """Content beyond max_content_bytes is shortened, stays JSON, and carries a hash."""
    lg.configure(max_content_bytes=1_000)

    @lg.trace
    def echo(text: str) -> str:
        return text

    with capture() as records:
        echo("x" * 10_000)
    record = records[0]
    assert record.truncated is not None
    assert set(record.truncated) == {"input", "output"}
    assert record.truncated["output"].bytes == 10_002
    assert len(json.dumps(record.output)) <= 1_000
    json.loads(record.to_json())


def test_sample_rate_keeps_a_binomial_share_of_successful_traces() -> None:
    lg.configure(sample_rate=0.1)
    n = 10_000
    with capture() as records:
        for _ in range(n):
            with lg.span("root"), lg.span("child"):
                pass
    roots = [r for r in records if r.name == "root"]
    children = {r.trace_id for r in records if r.name == "child"}
    sigma = math.sqrt(n * 0.1 * 0.9)
    assert abs(len(roots) - n * 0.1) < 4 * sigma
    # Every span of a trace follows the one decision.
    assert children == {r.trace_id for r in roots}
    assert all(r.sample_weight == 10.0 for r in records)


def test_sample_rate_keeps_every_failed_record_and_retries() -> None:
    lg.configure(sample_rate=0.1)
    n = 500
    with capture() as records:
        for _ in range(n):
            with pytest.raises(ValueError, match="boom"), lg.span("root"):
                raise ValueError("boom")
    assert len(records) == n
    assert all(r.status == "error" and r.sample_weight == 1.0 for r in records)

    model = FakeLLM([FakeAPIError(429), "ok"] * 50)

    @lg.guard(sleep=lambda _: None)
    def ask(question: str) -> Any:
        return model(question, model="gpt-4o")

    with capture() as records:
        for _ in range(50):
            ask("hi")
    llm = [r for r in records if r.kind == "llm"]
    assert len(llm) == 50
    assert all(r.attempt is not None and r.attempt["count"] == 2 for r in llm)


def test_sampling_is_decided_by_the_trace_id() -> None:
    def record(trace_id: str, **fields: Any) -> Record:
        return Record(
            trace_id=trace_id, span_id="1" * 16, name="x", start=T0, end=T1, duration_ms=1,
            **fields,
        )  # fmt: skip

    low, high = "f" * 16 + "0" * 15 + "1", "0" * 16 + "f" * 16
    assert processing.sample(record(low), 0.5) == record(low, sample_weight=2.0)
    assert processing.sample(record(high), 0.5) is None
    assert processing.sample(record(high, kind="feedback"), 0.5) is not None
    assert processing.sample(record(high, status="limit"), 0.5) is not None
    assert processing.sample(record(high), 1.0) is not None
