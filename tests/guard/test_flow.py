"""Tests for llmguard._guard.flow: the sans-IO corrective flow, its drivers and attempt records.

The flow is driven by hand here -- sending it what "happened" -- to show that it never
calls, sleeps or reads a stream itself; the drivers are tested on their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from llmguard import Record, Usage
from llmguard._guard.call import Call, Parameters, default_reask
from llmguard._guard.drivers import (
    Drain,
    Invoke,
    Pause,
    Result,
    drain_async,
    drain_sync,
    run_async,
    run_sync,
)
from llmguard._guard.flow import Plan, Steps, StreamHandOff, guarded_flow
from llmguard._guard.schema import compile_schema
from llmguard._guard.transient import is_transient
from llmguard._tracing.spans import Span
from llmguard.adapters import Reply, ToolCall
from llmguard.exceptions import OutputTruncated, Refused, SchemaViolation
from llmguard.testing import FakeAPIError, FakeLLM, capture


class Ticket(BaseModel):
    category: Literal["billing", "bug", "other"]
    urgency: int = Field(ge=1, le=5)


MESSAGES = [{"role": "user", "content": "The app crashes."}]
GOOD = '{"category": "bug", "urgency": 4}'
BAD = '{"category": "bug", "urgency": 9}'

Flow = Generator[Invoke | Pause | Drain, Any, Any]


def never_called(messages: Any) -> Any:
    raise AssertionError("the flow must not call the function itself")


def make_plan(**overrides: Any) -> Plan:
    options: dict[str, Any] = {
        "schema": compile_schema(Ticket),
        "retries": 1,
        "transient_retries": 1,
        "is_transient": is_transient,
        "wait": lambda number, error: 0.5 * number,
        "reask": default_reask,
        "fallbacks": (),
        "context": lambda call: None,
    }
    options.update(overrides)
    return Plan(**options)


def start(plan: Plan, fn: Callable[..., Any] = never_called) -> tuple[Flow, Span]:
    call = Call(fn, (), {"messages": MESSAGES}, Parameters.of(fn))
    llm = Span("triage", "llm").start()
    return guarded_flow(plan, call, llm), llm


def finish(flow: Flow, sent: Any) -> Any:
    with pytest.raises(StopIteration) as stop:
        flow.send(sent)
    return stop.value.value


# -- the flow, driven by hand -----------------------------------------------------------


def test_flow_asks_for_calls_and_returns_the_validated_value() -> None:
    """Invoke the original call; after a bad answer, Invoke the re-ask; then the value."""
    flow, llm = start(make_plan())
    first = next(flow)
    assert isinstance(first, Invoke)
    assert first.call.kwargs == {"messages": MESSAGES}
    assert first.span.parent_id == llm.span_id
    second = flow.send(Result(value=BAD))
    assert isinstance(second, Invoke)
    assert second.call.kwargs["messages"][: len(MESSAGES)] == MESSAGES
    assert second.call.kwargs["messages"][-2] == {"role": "assistant", "content": BAD}
    assert finish(flow, Result(value=GOOD)) == Ticket(category="bug", urgency=4)


def test_flow_asks_for_a_pause_after_a_transient_error() -> None:
    """A transient error yields Pause(wait), then the same call again."""
    flow, _ = start(make_plan(wait=lambda number, error: 1.25))
    first = next(flow)
    pause = flow.send(Result(error=FakeAPIError(429)))
    assert pause == Pause(1.25)
    again = flow.send(None)
    assert isinstance(again, Invoke)
    assert again.call is first.call
    assert finish(flow, Result(value=GOOD)).urgency == 4


def test_flow_asks_the_driver_to_drain_a_stream_under_a_schema() -> None:
    """A stream is not read by the flow: it yields Drain and validates the reply it gets."""
    flow, _ = start(make_plan())
    next(flow)
    stream = iter([GOOD])
    drain = flow.send(Result(value=stream))
    assert drain == Drain(stream)
    assert finish(flow, Result(value=Reply(text=GOOD))).category == "bug"


def test_a_stream_that_fails_while_drained_is_a_failed_attempt() -> None:
    """A Drain answered with an error goes through the error path: transient, so a pause."""
    flow, _ = start(make_plan())
    next(flow)
    flow.send(Result(value=iter([])))
    assert isinstance(flow.send(Result(error=TimeoutError("stalled"))), Pause)


def test_without_a_schema_a_stream_is_handed_off() -> None:
    """No schema: the flow returns a StreamHandOff whose finish closes the records."""
    flow, llm = start(make_plan(schema=None))
    next(flow)
    stream = iter(["a"])
    with capture() as records:
        handoff = finish(flow, Result(value=stream))
        assert isinstance(handoff, StreamHandOff)
        assert handoff.stream is stream
        handoff.finish(Reply(text="a", usage=Usage(input=1, output=1, total=2)), None)
        llm.end()
    attempt, record = records
    assert attempt.attempt is not None
    assert record.attempt is not None
    assert attempt.attempt["outcome"] == "ok"
    assert record.usage == Usage(input=1, output=1, total=2)


def test_a_handed_off_stream_that_failed_records_a_failed_attempt() -> None:
    """The finish of a stream cut short marks the attempt and the call as errors."""
    flow, llm = start(make_plan(schema=None))
    next(flow)
    handoff = finish(flow, Result(value=iter(["a"])))
    with capture() as records:
        handoff.finish(Reply(text="a"), ConnectionError("reset"))
        llm.end()
    attempt, record = records
    assert attempt.attempt is not None
    assert record.attempt is not None
    assert (attempt.attempt["outcome"], attempt.error_type) == ("error", "ConnectionError")
    assert record.attempt["outcome"] == "error"


def test_flow_raises_what_the_function_raised_when_not_transient() -> None:
    """A non-transient error ends the flow with that very exception."""
    flow, _ = start(make_plan())
    next(flow)
    boom = KeyError("bug")
    with pytest.raises(KeyError) as excinfo:
        flow.send(Result(error=boom))
    assert excinfo.value is boom


def test_flow_raises_schema_violation_after_the_retries() -> None:
    """retries=1: two invalid answers end in SchemaViolation with both attempts."""
    flow, _ = start(make_plan())
    next(flow)
    flow.send(Result(value="nope"))
    with pytest.raises(SchemaViolation) as excinfo:
        flow.send(Result(value=BAD))
    assert [a.text for a in excinfo.value.attempts] == ["nope", BAD]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(text='{"cat', finish_reason="length"), OutputTruncated),
        (Reply(text="", refusal="no", finish_reason="refusal"), Refused),
    ],
)
def test_truncation_and_refusal_end_the_flow(reply: Reply, error: type[Exception]) -> None:
    """A truncated or refused answer raises at once, without a re-ask."""
    flow, _ = start(make_plan(retries=3))
    next(flow)
    flow.send(Result(value=iter([])))  # a stream: the reply comes from Drain
    with pytest.raises(error):
        flow.send(Result(value=reply))


def test_tool_call_arguments_are_the_attempts_text_as_json() -> None:
    """Anthropic's dict of tool arguments is the attempt's text as JSON, not a Python repr."""
    flow, _ = start(make_plan(retries=0))
    next(flow)
    flow.send(Result(value=iter([])))
    tool = ToolCall("toolu_1", "file_ticket", {"category": "bug", "urgency": None})
    with pytest.raises(SchemaViolation) as excinfo:
        flow.send(Result(value=Reply(tool_calls=(tool,), provider="anthropic")))
    (attempt,) = excinfo.value.attempts
    assert attempt.text == '{"category": "bug", "urgency": null}'
    assert attempt.tool_call == tool


def test_fallback_gets_the_original_call_after_the_retries() -> None:
    """When a function's retries run out, the next Invoke is the fallback's, unchanged."""

    def fallback(messages: Any) -> Any:
        raise AssertionError("not called by the flow")

    flow, _ = start(make_plan(retries=0, fallbacks=((fallback, Parameters.of(fallback)),)))
    next(flow)
    request = flow.send(Result(value="nope"))
    assert isinstance(request, Invoke)
    assert request.call.fn is fallback
    assert request.call.kwargs == {"messages": MESSAGES}
    assert request.span.name == "attempt 2"


def test_exhausted_transient_retries_move_to_the_fallback() -> None:
    """Transient retries used up: the fallback is tried before giving up."""

    def fallback(messages: Any) -> Any:
        raise AssertionError("not called by the flow")

    plan = make_plan(transient_retries=0, fallbacks=((fallback, Parameters.of(fallback)),))
    flow, _ = start(plan)
    next(flow)
    request = flow.send(Result(error=FakeAPIError(503)))
    assert isinstance(request, Invoke)
    assert request.call.fn is fallback
    with pytest.raises(FakeAPIError):
        flow.send(Result(error=FakeAPIError(503)))


def test_unknown_responses_are_validated_as_python_values() -> None:
    """A response no adapter reads (a dict of data) is validated as it is."""
    flow, _ = start(make_plan())
    next(flow)
    assert finish(flow, Result(value={"category": "bug", "urgency": 2})).urgency == 2


def test_validation_context_comes_from_the_plan() -> None:
    """The plan's context callable is asked with the original call."""
    seen: list[Call] = []

    def context(call: Call) -> dict[str, Any]:
        seen.append(call)
        return {"k": "v"}

    flow, _ = start(make_plan(context=context))
    first = next(flow)
    finish(flow, Result(value=GOOD))
    assert seen == [first.call]


# -- drivers ----------------------------------------------------------------------------


def test_run_sync_calls_sleeps_and_drains() -> None:
    """run_sync calls the function, sleeps through the given sleep, and drains streams."""
    model = FakeLLM([FakeAPIError(500), BAD, GOOD], stream=True)
    sleeps: list[float] = []

    def triage(messages: Any) -> Any:
        return model(messages=messages)

    flow, _ = start(make_plan(), triage)
    assert run_sync(Steps.of(flow), sleeps.append) == Ticket(category="bug", urgency=4)
    assert sleeps == [0.5]
    assert len(model.calls) == 3


async def test_run_async_awaits_coroutines_and_async_streams() -> None:
    """run_async awaits the call, an async sleep and an async stream."""
    model = FakeLLM([FakeAPIError(429), GOOD], stream=True)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def triage(messages: Any) -> Any:
        return await model.acall(messages=messages)

    flow, _ = start(make_plan(), triage)
    assert (await run_async(Steps.of(flow), sleep)).urgency == 4
    assert slept == [0.5]


async def test_run_async_defaults_to_asyncio_sleep() -> None:
    """Without an injected sleep, the async driver waits with asyncio.sleep."""
    model = FakeLLM([FakeAPIError(429), GOOD])
    flow, _ = start(make_plan(wait=lambda n, e: 0.0), lambda messages: model(messages=messages))
    assert (await run_async(Steps.of(flow), None)).urgency == 4


def test_drivers_set_the_attempt_span_as_current() -> None:
    """While the function runs, the attempt's span is the current span."""
    from llmguard import current_span

    seen: list[Any] = []

    def triage(messages: Any) -> Any:
        seen.append(current_span())
        return GOOD

    flow, llm = start(make_plan(), triage)
    run_sync(Steps.of(flow), lambda seconds: None)
    (span,) = seen
    assert span.kind == "attempt"
    assert span.parent_id == llm.span_id


class Closable:
    def __init__(self, items: list[Any], error: BaseException | None = None) -> None:
        self.items = items
        self.error = error
        self.closed = False

    def __iter__(self) -> Iterator[Any]:
        yield from self.items
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self.closed = True


def test_drain_sync_gives_the_reply_and_closes_the_stream() -> None:
    """drain_sync reads to the end, closes the stream, and returns its reply."""
    stream = Closable(["Hel", "lo"])
    result = drain_sync(stream)
    assert result.error is None
    assert result.value == Reply(text="Hello")
    assert stream.closed


def test_drain_sync_returns_the_error_that_cut_the_stream_short() -> None:
    """An error while draining is returned, not raised, and the stream is still closed."""
    error = ConnectionError("reset")
    stream = Closable(["a"], error)
    result = drain_sync(stream)
    assert result.error is error
    assert stream.closed


def test_drain_of_unknown_chunks_gives_no_reply() -> None:
    """Chunks of an unknown shape: the reply is None (usage unknown)."""
    assert drain_sync(iter([object(), object()])) == Result(value=None)


async def test_drain_async_reads_async_and_sync_streams() -> None:
    """drain_async reads async streams, closing them, and hands sync ones to drain_sync."""

    async def pieces() -> AsyncIterator[str]:
        yield "a"
        yield "b"

    assert (await drain_async(pieces())).value == Reply(text="ab")
    assert (await drain_async(iter(["c"]))).value == Reply(text="c")

    async def broken() -> AsyncIterator[str]:
        yield "a"
        raise asyncio.TimeoutError

    assert isinstance((await drain_async(broken())).error, asyncio.TimeoutError)


# -- attempt records ---------------------------------------------------------------------


def test_attempt_records_are_children_of_the_llm_record() -> None:
    """Each attempt span is started under the llm span, and ends with its summary."""
    flow, llm = start(make_plan(), lambda messages: BAD)
    with capture() as records:
        with pytest.raises(SchemaViolation):
            run_sync(Steps.of(flow), lambda seconds: None)
        llm.end()
    *attempts, record = records
    assert [a.name for a in attempts] == ["attempt 1", "attempt 2"]
    assert all(isinstance(a, Record) and a.parent_id == record.span_id for a in attempts)
    assert record.attempt is not None
    assert record.attempt["outcome"] == "schema_violation"


def test_pending_records_hold_neither_the_response_nor_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While a guarded call's records wait for delivery, they keep what the records say
    (counts, costs, the reply's model and ids), not the SDK response or the validated
    value; the records built later say all of it."""
    import gc
    import weakref

    import llmguard as lg
    from llmguard._delivery import settings as config
    from llmguard._tracing import spans
    from tests._helpers.sdk_mocks import chat_completion, openai_client

    lg.configure(sinks=[lg.sinks.MemorySink()])
    client, _ = openai_client(
        [chat_completion(BAD, usage=(30, 7)), chat_completion(GOOD, usage=(40, 8), id="c-2")]
    )
    held: list[Span] = []
    monkeypatch.setattr(spans, "submit", held.append)  # delivery never sees them
    made: list[weakref.ref[Any]] = []

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, str]]) -> Any:
        response = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        made.append(weakref.ref(response))
        return response

    value = triage([{"role": "user", "content": "my card was charged twice"}])
    assert value == Ticket(category="bug", urgency=4)
    kept = weakref.ref(value)
    del value
    gc.collect()
    assert [ref() for ref in made] == [None, None]
    assert kept() is None
    records = {span.name: span.to_record(config.settings()) for span in held}
    first, second = records.pop("attempt 1"), records.pop("attempt 2")
    (llm,) = records.values()
    assert first.attempt is not None
    assert first.attempt["outcome"] == "invalid"
    assert first.attempt["errors"]  # the validation errors, as the summary lists them
    assert first.output == BAD
    assert second.output == GOOD
    assert (first.usage, second.usage) == (
        Usage(input=30, output=7, total=37),
        Usage(input=40, output=8, total=48),
    )
    assert second.metadata == {"response_model": "gpt-4o-mini", "response_id": "c-2"}
    assert llm.attempt == {
        "count": 2,
        "outcome": "ok",
        "corrective_retries": 1,
        "transient_retries": 0,
        "fallback": 0,
    }
    assert llm.usage == Usage(input=70, output=15, total=85)
    assert llm.output == {"category": "bug", "urgency": 4}
    assert (llm.model, llm.provider, llm.finish_reason) == ("gpt-4o-mini", "openai", "stop")
    assert first.cost_usd is not None
    assert second.cost_usd is not None
    assert llm.cost_usd == pytest.approx(first.cost_usd + second.cost_usd)
    assert llm.price_source == second.price_source == first.price_source
    assert llm.price_source is not None
    assert llm.price_table == second.price_table
