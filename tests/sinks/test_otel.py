"""Tests for OTelSink with the real opentelemetry-sdk, and for sample_rate."""

from __future__ import annotations

import builtins
import math
from collections.abc import Iterator
from typing import Any

import pytest

import llmguard as lg
from llmguard._core.records import Record, Usage
from llmguard.sinks._otel import OTelSink, attributes, iso_to_ns, span_name
from llmguard.testing import FakeAPIError, FakeLLM
from tests._helpers.times import T0, T1

otel_trace = pytest.importorskip("opentelemetry.trace")
sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode  # noqa: E402


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[Any]:
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def sink(provider: Any) -> OTelSink:
    sink = OTelSink(tracer_provider=provider)
    lg.configure(sinks=[sink], strict=True)
    return sink


def by_name(exporter: InMemorySpanExporter) -> dict[str, Any]:
    return {s.name: s for s in exporter.get_finished_spans()}


def test_a_guarded_call_becomes_a_chat_span_nested_under_the_app_span(
    sink: OTelSink, exporter: InMemorySpanExporter
) -> None:
    model = FakeLLM(["hello"], model="gpt-4o")

    @lg.guard
    def ask(question: str) -> Any:
        return model(question, model="gpt-4o")

    with lg.span("app"):
        ask("hi")

    spans = by_name(exporter)
    assert set(spans) == {"app", "chat gpt-4o", "attempt 1"}
    app, chat, attempt = spans["app"], spans["chat gpt-4o"], spans["attempt 1"]
    assert chat.parent.span_id == app.context.span_id
    assert attempt.parent.span_id == chat.context.span_id
    assert app.parent is None
    assert len({s.context.trace_id for s in spans.values()}) == 1
    assert chat.start_time >= app.start_time
    assert chat.end_time <= app.end_time
    assert chat.end_time > chat.start_time
    assert chat.kind == otel_trace.SpanKind.CLIENT
    attrs = dict(chat.attributes)
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.model"] == "gpt-4o"
    assert attrs["gen_ai.response.model"] == "gpt-4o"
    assert attrs["gen_ai.response.id"] == "chatcmpl-1"
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert attrs["gen_ai.usage.input_tokens"] == 1
    assert attrs["gen_ai.usage.output_tokens"] == 1
    assert attrs["llmguard.kind"] == "llm"
    assert attrs["llmguard.attempt.count"] == 1
    assert attrs["llmguard.attempt.outcome"] == "ok"
    assert attrs["llmguard.input"] == '["hi"]'
    assert chat.status.status_code == StatusCode.UNSET
    # The attempt's usage is not repeated under gen_ai.*, so it is not counted twice.
    assert "gen_ai.usage.input_tokens" not in attempt.attributes
    assert attempt.attributes["llmguard.usage.input_tokens"] == 1


def test_a_guarded_call_inside_an_application_otel_span_is_its_child(
    sink: OTelSink, provider: Any, exporter: InMemorySpanExporter
) -> None:
    model = FakeLLM(["hello"], model="gpt-4o")

    @lg.guard
    def ask(question: str) -> Any:
        return model(question, model="gpt-4o")

    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("handle request") as outer:
        ask("hi")

    spans = by_name(exporter)
    request, chat = spans["handle request"], spans["chat gpt-4o"]
    assert chat.context.trace_id == outer.get_span_context().trace_id
    assert chat.parent.span_id == request.context.span_id
    assert chat.parent.is_remote
    assert "llmguard.metadata.otel.parent_span_id" not in chat.attributes


def test_content_attributes_only_when_content_is_captured(
    sink: OTelSink, exporter: InMemorySpanExporter
) -> None:
    lg.configure(capture_content=False)
    model = FakeLLM(["hello"], model="gpt-4o")

    @lg.guard
    def ask(question: str) -> Any:
        return model(question, model="gpt-4o")

    ask("secret question")
    for span in exporter.get_finished_spans():
        assert not any(k.rsplit(".", 1)[-1] == "input" for k in span.attributes), span.name
        assert "llmguard.output" not in span.attributes
        assert "secret" not in repr(dict(span.attributes))


def test_tool_and_agent_spans_carry_their_attributes(
    sink: OTelSink, exporter: InMemorySpanExporter
) -> None:
    @lg.tool
    def add(a: int, b: int) -> int:
        return a + b

    @lg.agent("planner")
    def plan() -> int:
        return int(add(1, 2))

    assert plan() == 3
    spans = by_name(exporter)
    agent, tool = spans["invoke_agent planner"], spans["execute_tool add"]
    assert tool.parent.span_id == agent.context.span_id
    assert agent.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert agent.attributes["gen_ai.agent.name"] == "planner"
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "add"
    assert tool.attributes["gen_ai.tool.call.arguments"] == '{"a":1,"b":2}'
    assert tool.attributes["gen_ai.tool.call.result"] == "3"


def test_an_error_sets_the_span_status_and_error_type(
    sink: OTelSink, exporter: InMemorySpanExporter
) -> None:
    model = FakeLLM([FakeAPIError(400, "bad request")], model="gpt-4o")

    @lg.guard
    def ask(question: str) -> Any:
        return model(question, model="gpt-4o")

    with pytest.raises(FakeAPIError):
        ask("hi")
    (chat,) = [s for s in exporter.get_finished_spans() if s.name.startswith("chat")]
    assert chat.status.status_code == StatusCode.ERROR
    assert "bad request" in (chat.status.description or "")
    assert chat.attributes["error.type"] == "llmguard.testing.FakeAPIError"


def test_a_limit_is_an_error_status_with_its_type() -> None:
    record = Record(
        trace_id="1" * 32,
        span_id="2" * 16,
        name="ask",
        start=T0,
        end=T1,
        duration_ms=1.0,
        kind="llm",
        status="limit",
        model="m",
        limits={"max_input_tokens": 10, "tripped": "max_input_tokens"},
        usage=Usage(input=5, output=2, cached_input=3, reasoning=1),
        cost_usd=0.5,
        price_table="2026-01",
        prompt_version="abc123",
        sample_weight=10.0,
    )
    attrs = attributes(record)
    assert attrs["error.type"] == "limit"
    assert attrs["llmguard.limits.tripped"] == "max_input_tokens"
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 3
    assert attrs["gen_ai.usage.reasoning.output_tokens"] == 1
    assert attrs["llmguard.cost_usd"] == 0.5
    assert attrs["llmguard.price_table"] == "2026-01"
    assert attrs["llmguard.prompt_version"] == "abc123"
    assert attrs["llmguard.sample_weight"] == 10.0
    assert span_name(record) == "chat m"


def test_span_times_are_the_records_times(provider: Any, exporter: InMemorySpanExporter) -> None:
    record = Record(
        trace_id="a" * 32, span_id="b" * 16, name="step", start=T0, end=T1, duration_ms=1.0
    )
    OTelSink(provider).emit([record])
    (span,) = exporter.get_finished_spans()
    assert span.name == "step"
    assert span.start_time == 1767323045_123456000
    assert span.end_time == 1767323046_000001000
    assert span.context.trace_id == int("a" * 32, 16)
    assert span.context.span_id == int("b" * 16, 16)
    assert iso_to_ns("2026-01-02T03:04:05Z") == 1767323045_000000000


def test_a_failing_processor_raises_from_emit_after_the_rest_of_the_batch(
    provider: Any, exporter: InMemorySpanExporter
) -> None:
    class Broken(SimpleSpanProcessor):
        def on_end(self, span: Any) -> None:
            if span.name == "bad":
                raise RuntimeError("collector down")

    provider.add_span_processor(Broken(InMemorySpanExporter()))
    records = [
        Record(trace_id="a" * 32, span_id=f"{i + 1:016x}", name=n, start=T0, end=T1, duration_ms=1)
        for i, n in enumerate(["bad", "good"])
    ]
    with pytest.raises(lg.PartiallyDelivered) as raised:
        OTelSink(provider).emit(records)
    assert raised.value.delivered == 1  # "good" went through every processor
    assert str(raised.value.__cause__) == "collector down"
    # The in-memory exporter's processor ran before the broken one for both records.
    assert [s.name for s in exporter.get_finished_spans()] == ["bad", "good"]


def test_the_pipeline_isolates_a_failing_export(provider: Any) -> None:
    class Broken(SimpleSpanProcessor):
        def on_end(self, span: Any) -> None:
            raise RuntimeError("collector down")

    provider.add_span_processor(Broken(InMemorySpanExporter()))
    lg.configure(sinks=[OTelSink(provider)])
    with lg.span("work"):
        pass
    lg.flush()
    (stats,) = lg.stats().sinks
    assert stats.errors == 1


def test_a_provider_that_is_not_the_sdks_is_refused() -> None:
    with pytest.raises(lg.ConfigurationError, match="TracerProvider"):
        OTelSink(tracer_provider=object())


def test_missing_otel_extra_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_otel(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("opentelemetry"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_otel)
    with pytest.raises(lg.ConfigurationError, match=r"llmguard\[otel\]"):
        OTelSink()


# -- sampling ------------------------------------------------------------------------


def test_sample_rate_is_checked() -> None:
    assert lg.configure(sample_rate=0.25).sample_rate == 0.25
    for bad in (-0.1, 1.5, math.nan, True, "0.5"):
        with pytest.raises(lg.ConfigurationError, match="sample_rate"):
            lg.configure(sample_rate=bad)


def test_sampled_out_records_reach_no_sink(sink: OTelSink, exporter: InMemorySpanExporter) -> None:
    lg.configure(sample_rate=0.0)
    with lg.span("dropped"):
        pass
    with pytest.raises(ValueError, match="boom"), lg.span("kept"):
        raise ValueError("boom")
    assert [s.name for s in exporter.get_finished_spans()] == ["kept"]


def test_requested_output_cap_becomes_gen_ai_request_max_tokens() -> None:
    """The cap a guarded call sends (its own or max_output_tokens) is on the chat span."""
    exporter = InMemorySpanExporter()
    provider = sdk_trace.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    lg.configure(sinks=[OTelSink(provider)])
    fake = FakeLLM(["hi", "hi"], model="gpt-4o-mini")

    @lg.guard
    def own(messages: Any, max_tokens: int = 77) -> Any:
        return fake(messages=messages, max_tokens=max_tokens)

    @lg.guard(max_output_tokens=42)
    def capped(messages: Any, max_tokens: int | None = None) -> Any:
        return fake(messages=messages, max_tokens=max_tokens)

    own([{"role": "user", "content": "x"}], max_tokens=77)
    capped([{"role": "user", "content": "x"}])
    lg.flush(timeout=5)
    caps = sorted(
        span.attributes["gen_ai.request.max_tokens"]
        for span in exporter.get_finished_spans()
        if span.name.startswith("chat") and span.attributes is not None
    )
    assert caps == [42, 77]
