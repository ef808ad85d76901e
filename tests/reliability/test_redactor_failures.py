"""A redactor that fails drops the content it could not clean (fails closed)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import llmguard as lg
from llmguard.redact import DEFAULT
from llmguard.sinks import JSONLSink, MemorySink, read_records
from llmguard.testing import FakeLLM, capture
from tests._helpers.reliability import answer
from tests.conftest import ListSink

EMAIL = "jane.doe@example.com"
API_KEY = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"


def broken(record: lg.Record) -> lg.Record:
    """A redactor with a bug."""
    raise RuntimeError("regex exploded")


def test_failing_redactor_drops_content_and_says_so(sink: ListSink) -> None:
    """A redactor that raises drops the record's content (fails closed) and marks it."""
    lg.configure(redact=[broken])
    answer(21)
    lg.flush(timeout=5)
    (record,) = [r for r in sink.records if r.kind == "span"]
    assert record.input is None
    assert record.output is None
    assert record.metadata["llmguard.redaction"] == "failed: RuntimeError"


def test_raising_redactor_after_default_drops_all_content() -> None:
    """A raising custom redactor next to DEFAULT means no content reaches any sink."""
    memory = MemorySink()

    def boom(record: lg.Record) -> lg.Record:
        raise RuntimeError("boom")

    lg.configure(sinks=[memory], redact=[DEFAULT, boom])

    @lg.trace
    def ask(prompt: str) -> str:
        return "answer about jane@example.com"

    with capture() as captured:
        ask(f"key {API_KEY}")
    lg.flush(timeout=5)
    for records in (captured, memory.records):
        (record,) = [r for r in records if r.name.endswith("ask")]
        assert record.input is None
        assert record.output is None
        assert record.metadata["llmguard.redaction"] == "failed: RuntimeError"
        assert API_KEY not in record.to_json().decode()


class Contact(BaseModel):
    name: str
    age: int


def test_no_secret_from_any_field_reaches_any_sink(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Secrets in input, output, errors, attributes and attempt errors: none reach a sink.

    Every record is still delivered, the failure is one warning however many records
    it hits, and the sinks are told through an ``internal`` record.
    """
    memory = MemorySink()
    path = tmp_path / "out.jsonl"
    lg.configure(sinks=[memory, JSONLSink(path)], redact=[broken])
    # The first answer fails the schema, so its offending value lands in the attempt's
    # errors; the second passes.
    model = FakeLLM([f'{{"name": "{EMAIL}", "age": "{API_KEY}"}}', '{"name": "x", "age": 3}'])

    @lg.guard(schema=Contact, retries=1)
    def extract(messages: Any) -> Any:
        return model(messages=messages)

    @lg.trace
    def fails(text: str) -> None:
        raise ValueError(f"could not mail {text}")

    with caplog.at_level(logging.WARNING, logger="llmguard"):
        with lg.span("request", user=EMAIL, key=API_KEY):
            assert extract([{"role": "user", "content": f"mail {EMAIL}"}]) == Contact(
                name="x", age=3
            )
            with pytest.raises(ValueError, match="could not mail"):
                fails(EMAIL)
            for i in range(20):
                answer(i)
        assert lg.flush(timeout=5)
    delivered = [r for r in memory.records if r.kind != "internal"]
    # request, llm, 2 attempts, fails, 20 answers
    assert len(delivered) == 25
    for records in (memory.records, list(read_records(path))):
        dumped = b"\n".join(r.to_json() for r in records).decode()
        assert EMAIL not in dumped
        assert API_KEY not in dumped
        assert "jane" not in dumped
    assert all(r.metadata["llmguard.redaction"] == "failed: RuntimeError" for r in delivered)
    warnings = [r for r in caplog.records if "redactor failed" in r.getMessage()]
    assert len(warnings) == 1
    (internal,) = memory.find(kind="internal")
    assert internal.error_type == "RuntimeError"
    assert internal.name == "a redactor failed; the record's content was dropped"


def test_redactor_returning_something_else_drops_the_record(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A redactor returning a non-record: that record is dropped, counted and reported."""
    memory = MemorySink()
    lg.configure(sinks=[memory], redact=lambda record: {"leaked": record.input})
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        assert answer(4) == 8
        lg.flush(timeout=5)
    assert memory.find(kind="span") == []
    assert lg.stats().internal_errors == 1
    (internal,) = memory.find(kind="internal")
    assert internal.error_type == "TypeError"
    assert len(caplog.records) == 1


def test_redactor_failing_on_some_records_spares_the_others() -> None:
    """Only the records the redactor fails on lose their content."""

    def picky(record: lg.Record) -> lg.Record:
        if record.output == 6:
            raise KeyError("three")
        return record

    memory = MemorySink()
    lg.configure(sinks=[memory], redact=picky)
    for i in range(5):
        answer(i)
    lg.flush(timeout=5)
    outputs = [r.output for r in memory.find(kind="span")]
    assert outputs == [0, 2, 4, None, 8]


def test_metadata_that_cannot_hold_text_survives_a_failing_redactor() -> None:
    """Numbers and llmguard's own metadata stay; text attributes go."""
    memory = MemorySink()
    lg.configure(sinks=[memory], redact=broken)
    with lg.span("work", retries=3, ratio=0.5, ok=True, note=EMAIL, tags_list=[EMAIL]):
        pass
    lg.flush(timeout=5)
    (record,) = memory.find(kind="span")
    assert record.metadata == {
        "retries": 3,
        "ratio": 0.5,
        "ok": True,
        "llmguard.redaction": "failed: RuntimeError",
    }


def test_a_failing_redactor_keeps_no_secret_in_tags_keys_or_numbers() -> None:
    """Fail-closed also drops tags, text keys and numbers that could be a card or phone."""
    memory = MemorySink()
    lg.configure(sinks=[memory], redact=broken)
    with lg.span("work", tags=[EMAIL], card=4111111111111111, **{EMAIL: 1, "retries": 3}):
        pass
    lg.flush(timeout=5)
    (record,) = memory.find(kind="span")
    assert record.tags == ()
    assert record.metadata == {"retries": 3, "llmguard.redaction": "failed: RuntimeError"}
