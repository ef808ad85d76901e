"""Tests for llmguard.sinks.StructlogSink."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from llmguard._core.records import Record, Usage
from llmguard.sinks import Sink, StructlogSink


def _record(index: int, **fields: object) -> Record:
    values: dict[str, object] = {
        "trace_id": "trace-a",
        "span_id": f"{index:016x}",
        "name": "triage",
        "start": "2025-01-01T00:00:00.000000Z",
        "end": "2025-01-01T00:00:01.000000Z",
        "duration_ms": 1000.0,
    }
    values.update(fields)
    return Record(**values)  # type: ignore[arg-type]


def test_each_record_is_one_event_named_by_kind() -> None:
    """A batch logs one ``llmguard.<kind>`` event per record, in order."""
    sink = StructlogSink()
    with capture_logs() as events:
        sink.emit([_record(0, kind="llm"), _record(1, kind="tool"), _record(2)])
    assert [e["event"] for e in events] == ["llmguard.llm", "llmguard.tool", "llmguard.span"]


def test_event_carries_the_set_fields_with_name_as_span_name() -> None:
    """The event's keys are the record's set fields, ``name`` renamed ``span_name``."""
    record = _record(
        0,
        kind="llm",
        model="gpt-4o-mini",
        usage=Usage(input=10, output=2),
        metadata={"tenant": "acme"},
        tags=("prod",),
    )
    with capture_logs() as events:
        StructlogSink().emit([record])
    expected = record.to_dict()
    expected["span_name"] = expected.pop("name")
    assert events == [{**expected, "event": "llmguard.llm", "log_level": "info"}]
    assert events[0]["usage"] == {"input": 10, "output": 2, "estimated": False}


@pytest.mark.parametrize(
    ("status", "level"), [("ok", "info"), ("limit", "warning"), ("error", "error")]
)
def test_level_follows_status(status: str, level: str) -> None:
    """ok logs at info, limit at warning, error at error."""
    with capture_logs() as events:
        StructlogSink().emit([_record(0, status=status)])
    assert [e["log_level"] for e in events] == [level]


def test_uses_the_given_logger() -> None:
    """Events go to the logger passed in, not to the default one."""
    calls: list[tuple[str, str, dict[str, Any]]] = []

    class Recorder:
        def info(self, event: str, /, **kw: Any) -> None:
            calls.append(("info", event, kw))

        def warning(self, event: str, /, **kw: Any) -> None:
            calls.append(("warning", event, kw))

        def error(self, event: str, /, **kw: Any) -> None:
            calls.append(("error", event, kw))

    with capture_logs() as events:
        StructlogSink(Recorder()).emit([_record(0, status="limit", kind="agent")])
    assert events == []
    assert [(method, event) for method, event, _ in calls] == [("warning", "llmguard.agent")]
    assert calls[0][2]["span_name"] == "triage"


def test_renders_through_stdlib_logging(caplog: pytest.LogCaptureFixture) -> None:
    """With structlog rendering into ``logging``, record fields do not clash with LogRecord's."""
    logger = structlog.wrap_logger(
        logging.getLogger("llmguard.test"),
        processors=[structlog.stdlib.render_to_log_kwargs],
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    with caplog.at_level(logging.INFO, logger="llmguard.test"):
        StructlogSink(logger).emit([_record(0, kind="llm", status="error")])
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("ERROR", "llmguard.llm")]
    assert caplog.records[0].__dict__["span_name"] == "triage"
    assert caplog.records[0].name == "llmguard.test"


def test_flush_and_close_leave_the_logger_usable() -> None:
    """Flushing and closing the sink do not stop the logger."""
    sink = StructlogSink()
    sink.flush(timeout=0.1)
    sink.close()
    with capture_logs() as events:
        sink.emit([_record(0)])
    assert len(events) == 1


def test_is_a_sink() -> None:
    """StructlogSink meets the Sink protocol."""
    assert isinstance(StructlogSink(), Sink)
