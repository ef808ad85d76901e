"""Stores for the query commands' tests: hand-worked records, and one traced request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

import llmguard as lg
from llmguard._core.records import Record, Usage
from llmguard.sinks import JSONLSink, SQLiteSink
from llmguard.testing import FakeLLM


def _call(span: int, name: str, duration: float, **fields: object) -> Record:
    values: dict[str, object] = {
        "trace_id": f"{span:032x}",
        "span_id": f"{span:016x}",
        "name": name,
        "kind": "llm",
        "start": f"2026-01-0{1 + span % 3}T10:00:{span:02d}.000000Z",
        "end": f"2026-01-0{1 + span % 3}T10:00:{span:02d}.500000Z",
        "duration_ms": duration,
    }
    values.update(fields)
    return Record(**values)  # type: ignore[arg-type]


def _records() -> list[Record]:
    """A store whose figures are worked out by hand in the stats tests."""
    usage = Usage(input=100, output=10, total=110)
    a = [
        _call(1, "a", 10.0, attempt={"count": 1}, usage=usage, cost_usd=0.01, model="m1"),
        _call(
            2,
            "a",
            20.0,
            status="error",
            error_type="llmguard.exceptions.SchemaViolation",
            attempt={"count": 3},
            usage=usage,
            cost_usd=0.01,
            model="m1",
        ),
        _call(3, "a", 30.0, status="limit", attempt={"count": 1}, model="m2"),
        _call(4, "a", 40.0, attempt={"count": 2}, usage=usage, cost_usd=0.01, model="m2"),
    ]
    b = [
        _call(5, "b", 100.0, sample_weight=5.0, usage=Usage(input=7, output=3)),
        _call(6, "b", 200.0, sample_weight=5.0, usage=Usage(input=7, output=3)),
        _call(7, "b", 300.0, status="error", error_type="TimeoutError"),
    ]
    others = [
        # Parts of calls and notes about them are not calls.
        _call(8, "attempt 1", 5.0, kind="attempt", trace_id=f"{1:032x}", usage=usage),
        _call(9, "feedback", 0.0, kind="feedback", trace_id=f"{1:032x}", metadata={"score": 1}),
        _call(10, "feedback", 0.0, kind="feedback", trace_id=f"{1:032x}", metadata={"score": 0}),
        _call(11, "feedback", 0.0, kind="feedback", trace_id=f"{7:032x}", metadata={"score": 0.25}),
        _call(12, "c", 1.0, kind="span"),
    ]
    return a + b + others


class Ticket(BaseModel):
    urgency: int = Field(ge=1, le=5)


_fake = FakeLLM([], model="gpt-4o-mini")


@lg.guard(schema=Ticket, retries=1)
def triage(messages: list[dict[str, str]]) -> Any:
    return _fake(model="gpt-4o-mini", messages=messages)


def _write_trace(path: Path) -> str:
    """Record one traced request with a corrective retry; returns its trace id."""
    global _fake
    sink = SQLiteSink(path) if path.suffix == ".db" else JSONLSink(path)
    lg.configure(sinks=[sink], service="support")
    _fake = FakeLLM(['{"urgency": 9}', '{"urgency": 4}'], model="gpt-4o-mini")
    with lg.span("request") as span:
        triage([{"role": "user", "content": "it broke"}])
        trace_id = span.trace_id
    lg.flush()
    return trace_id
