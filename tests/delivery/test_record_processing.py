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


class _Batched:
    """A redactor with a batch method, like `llmguard.redact.Patterns`: it uppercases the
    input, records the size of each batch, and fails on an input holding ``poison``."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.singles = 0

    def _one(self, record: Record) -> Record:
        if "poison" in str(record.input):
            raise ValueError("cannot clean this")
        return dataclasses.replace(record, input=str(record.input).upper())

    def __call__(self, record: Record) -> Record:
        self.singles += 1
        return self._one(record)

    def redact_records(self, records: list[Record]) -> list[Record]:
        self.batches.append(len(records))
        return [self._one(record) for record in records]


def test_a_batch_redactor_reads_the_queue_in_batches() -> None:
    """Records waiting together go through a redactor's ``redact_records`` in one call,
    with the same result as one call each."""
    redactor, memory = _Batched(), MemorySink()
    lg.configure(sinks=[memory], redact=redactor)
    for i in range(300):
        answer(i)
    assert lg.flush(timeout=5).complete
    assert sorted(r.input for r in memory.records) == sorted(f"{{'X': {i}}}" for i in range(300))
    assert max(redactor.batches) > 1
    assert sum(redactor.batches) + redactor.singles == 300


def test_a_batch_redactor_failing_costs_only_the_record_it_fails_on() -> None:
    """When ``redact_records`` raises, the batch is redacted record by record: only the
    poisoned record loses its content, and the failure is counted once."""
    redactor, memory = _Batched(), MemorySink()
    lg.configure(sinks=[memory], redact=redactor)
    for i in range(50):
        answer("poison" if i == 25 else i)
    lg.flush(timeout=5)
    records = [r for r in memory.records if r.kind != "internal"]
    by_input = {r.input for r in records}
    assert len(records) == 50
    assert None in by_input
    assert {f"{{'X': {i}}}" for i in range(50) if i != 25} <= by_input
    assert lg.stats().internal_errors == 1
    poisoned = next(r for r in records if r.input is None)
    assert poisoned.metadata["llmguard.redaction"] == "failed: ValueError"


def test_prepare_reads_counted_sizes_instead_of_walking_the_content() -> None:
    """Content whose counted size proves it within the bound is delivered as it is; a
    size past the proof sends it to be measured and cut."""
    settings = lg.configure(redact=None, max_content_bytes=1024)
    record = Record(
        trace_id="1" * 32,
        span_id="1" * 16,
        name="n",
        start=T0,
        end=T1,
        duration_ms=1.0,
        input="y" * 5_000,
    )
    kept, _ = processing.prepare(record, settings, lambda *a, **k: None, sizes=(100, 0))
    assert kept is not None
    assert kept.input == "y" * 5_000
    cut, _ = processing.prepare(record, settings, lambda *a, **k: None, sizes=(5_005, 0))
    assert cut is not None
    assert cut.truncated is not None
    assert "input" in cut.truncated
