"""Tests for lg.replay / lg.areplay: recorded guarded calls run again against new code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmguard as lg
from llmguard._replay.replay import ReplayOutcome, areplay, replay
from llmguard.testing import FakeAPIError, FakeLLM, capture
from tests._helpers.replay import (
    BAD,
    GOOD,
    MESSAGES,
    Ticket,
    failed_in_store,
    recorded_call,
    triage_with,
)


def test_a_failed_call_from_a_store_succeeds_against_the_fixed_function(tmp_path: Path) -> None:
    """A SchemaViolation recorded in SQLite, replayed against a fix: old failure, new success."""
    record = failed_in_store(tmp_path)
    fixed = FakeLLM([GOOD], model="gpt-4o-mini")

    result = replay(record, triage_with(fixed))

    assert fixed.calls == [{"model": "gpt-4o-mini", "messages": MESSAGES}]
    assert result.old.status == "error"
    assert result.old.error_type == "llmguard.exceptions.SchemaViolation"
    assert result.old.attempts == 3
    assert result.old.value is None
    assert result.new == ReplayOutcome(
        status="ok",
        value={"category": "bug", "urgency": 4},
        usage=result.new.usage,
        cost_usd=result.new.cost_usd,
        duration_ms=result.new.duration_ms,
        attempts=1,
        model="gpt-4o-mini",
    )
    assert result.new.usage is not None
    assert result.new.usage.output == 8
    assert result.result == Ticket(category="bug", urgency=4)
    assert result.error is None
    assert result.changed
    assert result.differences == ("status", "error_type", "value")


def test_the_new_run_is_recorded_under_a_replay_span() -> None:
    """The new call's records hang under a span naming the replayed one."""
    record = recorded_call(triage_with(FakeLLM([GOOD])), MESSAGES)
    with capture() as emitted:
        result = replay(record, triage_with(FakeLLM([GOOD])))
    assert [r.kind for r in result.records] == ["attempt", "llm", "span"]
    assert [r.span_id for r in emitted] == [r.span_id for r in result.records]
    root = result.records[-1]
    assert root.name == "llmguard.replay"
    assert root.metadata == {"replay_of": record.span_id, "replay_trace": record.trace_id}
    assert result.records[1].parent_id == root.span_id
    assert root.trace_id != record.trace_id


def test_an_undecorated_function_has_no_attempts_but_its_guarded_calls_count() -> None:
    """Without a guard there are no attempts; guarded calls made inside are summed up."""
    record = recorded_call(triage_with(FakeLLM([GOOD])), MESSAGES)
    inner = triage_with(FakeLLM([BAD, GOOD, GOOD], model="gpt-4o-mini"))

    def plain(messages: list[dict[str, str]]) -> dict[str, int]:
        return {"length": len(messages)}

    def twice(messages: list[dict[str, str]]) -> list[Any]:
        return [inner(messages).urgency, inner(messages).urgency]

    bare = replay(record, plain)
    assert (bare.new.status, bare.new.value, bare.new.attempts) == ("ok", {"length": 1}, None)
    assert bare.new.usage is None
    assert bare.new.cost_usd is None
    nested = replay(record, twice)
    assert nested.new.value == [4, 4]
    assert nested.new.attempts == 3
    assert nested.new.model == "gpt-4o-mini"
    assert nested.new.usage is not None
    assert nested.new.usage.output == 24
    assert nested.new.cost_usd is not None
    assert nested.new.cost_usd > 0


def test_an_exception_of_the_function_is_the_new_outcome() -> None:
    """An error the function raises ends the new run; replay itself does not raise."""
    record = recorded_call(triage_with(FakeLLM([GOOD])), MESSAGES)
    result = replay(record, triage_with(FakeLLM([FakeAPIError(400, "bad request")])))
    assert result.new.status == "error"
    assert result.new.error_type == "llmguard.testing.FakeAPIError"
    assert result.new.error_message == "bad request"
    assert result.new.attempts == 1
    assert isinstance(result.error, FakeAPIError)
    assert result.result is None
    assert result.differences == ("status", "error_type", "value")


def test_a_failure_returned_by_on_fail_return_is_a_failed_outcome() -> None:
    """A guard with on_fail="return" hands back a Failure; the outcome is still an error."""
    record = recorded_call(triage_with(FakeLLM([GOOD])), MESSAGES)
    result = replay(record, triage_with(FakeLLM([BAD] * 3), on_fail="return"))
    assert result.new.status == "error"
    assert result.new.error_type == "llmguard.exceptions.SchemaViolation"
    assert isinstance(result.error, lg.SchemaViolation)
    assert result.new.attempts == 3


def test_a_limit_that_stops_the_new_run_is_a_limit_outcome() -> None:
    """A cap that refuses the call gives the status "limit", as its record would."""
    record = recorded_call(triage_with(FakeLLM([GOOD])), MESSAGES)
    fake = FakeLLM([GOOD])
    result = replay(record, triage_with(fake, max_input_tokens=2))
    assert result.new.status == "limit"
    assert result.new.error_type == "llmguard.exceptions.TokenLimitExceeded"
    assert fake.calls == []


def test_a_stream_is_read_to_its_end() -> None:
    """A function returning a stream is drained, so its call's record is complete."""
    fake = FakeLLM(["hello there"], shape="text")

    @lg.guard
    def chat(messages: list[dict[str, str]]) -> Iterator[str]:
        return fake(messages=messages, stream=True)  # type: ignore[no-any-return]

    record = recorded_call(lambda: list(chat(MESSAGES)))
    result = replay(record, lg.guard(lambda messages: iter(["a", "b"])))
    assert result.new.value == ["a", "b"]
    assert result.new.attempts == 1


async def test_areplay_awaits_a_coroutine_function() -> None:
    """Async guarded functions replay through areplay, with their attempts counted."""
    record = recorded_call(triage_with(FakeLLM([BAD] * 3)), MESSAGES)
    fake = FakeLLM([BAD, GOOD], model="gpt-4o-mini")

    @lg.guard(schema=Ticket, retries=2)
    async def triage(messages: list[dict[str, str]]) -> Any:
        return await fake.acall(model="gpt-4o-mini", messages=messages)

    result = await areplay(record, triage)
    assert (result.old.status, result.new.status) == ("error", "ok")
    assert result.new.attempts == 2
    assert [r.kind for r in result.records] == ["attempt", "attempt", "llm", "span"]


async def test_areplay_reads_an_async_stream_and_runs_sync_functions() -> None:
    """areplay takes any function: async generators are read, sync ones just called."""
    record = recorded_call(triage_with(FakeLLM([GOOD])), MESSAGES)

    async def chunks(messages: list[dict[str, str]]) -> Any:
        for part in ("x", "y"):
            yield part

    assert (await areplay(record, chunks)).new.value == ["x", "y"]
    assert (await areplay(record, lambda messages: "sync")).new.value == "sync"


def test_replay_refuses_async_functions() -> None:
    """replay() cannot await: it points to areplay instead of returning a coroutine."""
    record = recorded_call(triage_with(FakeLLM([GOOD])), MESSAGES)

    async def triage(messages: list[dict[str, str]]) -> str:
        return "never"

    with pytest.raises(TypeError, match=r"await lg\.areplay"):
        replay(record, triage)
    with pytest.raises(TypeError, match="areplay"):
        replay(record, lambda messages: triage(messages))
    with pytest.raises(TypeError, match="needs a function"):
        replay(record, 42)  # type: ignore[arg-type]
