"""Tests for lg.replay / lg.areplay: recorded guarded calls run again against new code."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

import llmguard as lg
from llmguard._replay import Replay, ReplayError, ReplayOutcome, areplay, replay
from llmguard.sinks import SQLiteSink, SQLiteStore
from llmguard.testing import FakeAPIError, FakeLLM, capture

MESSAGES = [{"role": "user", "content": "The app crashes when I open my invoices."}]
GOOD = '{"category": "bug", "urgency": 4}'
BAD = '{"category": "bug", "urgency": 7}'


class Ticket(BaseModel):
    category: Literal["billing", "bug", "other"]
    urgency: int = Field(ge=1, le=5)


def triage_with(fake: FakeLLM, **options: Any) -> Any:
    """A guarded triage function answered by ``fake``."""

    @lg.guard(schema=Ticket, retries=2, **options)
    def triage(messages: list[dict[str, str]]) -> Any:
        return fake(model="gpt-4o-mini", messages=messages)

    return triage


def recorded_call(fn: Any, *args: Any, **kwargs: Any) -> lg.Record:
    """Call ``fn`` and return the llm record of the call, whether it failed or not."""
    with capture() as records, contextlib.suppress(lg.LLMGuardError):
        fn(*args, **kwargs)
    return next(r for r in records if r.kind == "llm")


def failed_in_store(tmp_path: Path) -> lg.Record:
    """A triage call that failed the schema three times, read back from an SQLite store."""
    path = tmp_path / "llmguard.db"
    lg.configure(sinks=[SQLiteSink(path)])
    with pytest.raises(lg.SchemaViolation):
        triage_with(FakeLLM([BAD] * 3, model="gpt-4o-mini"))(MESSAGES)
    assert lg.flush(timeout=5)
    lg.configure(sinks=[])
    with SQLiteStore(path) as store:
        return next(store.records(kind="llm"))


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


def test_the_side_by_side_shows_the_old_failure_beside_the_new_success(tmp_path: Path) -> None:
    """The text puts recorded and new values on one row each, marking what changed."""
    record = failed_in_store(tmp_path)
    result = replay(record, triage_with(FakeLLM([GOOD], model="gpt-4o-mini")))

    lines = result.side_by_side(width=100).splitlines()
    name = "triage_with.<locals>.triage"
    assert lines[0] == (
        f"replay of span {record.span_id} ({name}, trace {record.trace_id}) against {name}"
    )
    assert lines[2].split() == ["recorded", "now"]
    rows = {line[:9].strip(" *"): line for line in lines[3:] if line[:9].strip()}
    assert rows["status"].split() == ["status", "*", "error", "ok"]
    assert rows["error"].startswith("error   *  llmguard.exceptions.SchemaViolation:")
    assert rows["error"].endswith("  -")
    assert rows["value"].split(None, 3)[:3] == ["value", "*", "-"]
    assert rows["value"].endswith('{"category": "bug", "urgency": 4}')
    assert rows["attempts"].split() == ["attempts", "3", "1"]
    assert rows["model"].split() == ["model", "-", "gpt-4o-mini"]
    first, last = lines.index(rows["error"]), lines.index(rows["value"])
    recorded_error = " ".join(line[11:54].strip() for line in lines[first:last])
    assert recorded_error.endswith("- $.urgency: Input should be less than or equal to 5 (got 7)")
    assert lines[-1] == "changed: status, error, value"
    assert all(len(line) <= 100 for line in lines[1:])
    assert str(result) == result.side_by_side()


def test_a_call_that_ends_the_same_way_is_unchanged() -> None:
    """Same answers, same outcome: not changed, whatever the timings."""
    record = recorded_call(triage_with(FakeLLM([BAD, GOOD])), MESSAGES)
    result = replay(record, triage_with(FakeLLM([BAD, GOOD])))
    assert (result.old.status, result.new.status) == ("ok", "ok")
    assert result.old.value == result.new.value == {"category": "bug", "urgency": 4}
    assert (result.old.attempts, result.new.attempts) == (2, 2)
    assert not result.changed
    assert result.side_by_side().splitlines()[-1] == "unchanged"


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


def test_keyword_and_positional_arguments_are_passed_as_recorded() -> None:
    """A call without messages recorded its keywords (or its positions) and gets them back."""
    seen: list[tuple[Any, ...]] = []

    @lg.guard
    def complete(prompt: str, temperature: float = 1.0) -> str:
        seen.append((prompt, temperature))
        return f"echo {prompt}"

    by_keyword = recorded_call(complete, prompt="hello", temperature=0.5)
    by_position = recorded_call(complete, "hi")
    mixed = recorded_call(complete, "hey", temperature=0.25)
    assert (by_keyword.input, by_position.input, mixed.input) == (
        {"prompt": "hello", "temperature": 0.5},
        ["hi"],
        {"prompt": "hey", "temperature": 0.25},
    )
    seen.clear()
    assert replay(by_keyword, complete).new.value == "echo hello"
    assert replay(by_position, complete).new.value == "echo hi"
    assert replay(mixed, complete).new.value == "echo hey"
    assert seen == [("hello", 0.5), ("hi", 1.0), ("hey", 0.25)]


def test_messages_reach_a_positional_only_or_var_keyword_parameter() -> None:
    """The recorded messages go wherever the function takes them."""
    record = recorded_call(triage_with(FakeLLM([GOOD])), MESSAGES)
    got: list[Any] = []

    def positional(messages: list[dict[str, str]], /) -> str:
        got.append(messages)
        return "first"

    def keywords(**kwargs: Any) -> str:
        got.append(kwargs["messages"])
        return "second"

    assert replay(record, positional).new.value == "first"
    assert replay(record, keywords).new.value == "second"
    assert got == [MESSAGES, MESSAGES]


def test_the_function_gets_a_copy_of_the_recorded_input() -> None:
    """A function that changes its messages does not change the record."""
    record = recorded_call(triage_with(FakeLLM([GOOD])), MESSAGES)

    def greedy(messages: list[dict[str, str]]) -> str:
        messages.append({"role": "user", "content": "more"})
        return "done"

    replay(record, greedy)
    assert record.input == MESSAGES


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


# -- records that cannot be replayed ------------------------------------------------------


def test_attempt_and_other_records_are_refused_with_a_pointer() -> None:
    """Only llm records replay; an attempt names the call to replay instead."""
    with capture() as records, lg.span("request"):
        triage_with(FakeLLM([BAD, GOOD]))(MESSAGES)
    attempt, call = records[1], records[2]
    with pytest.raises(ReplayError, match=f"attempt 2 of a guarded call.*span {call.span_id}"):
        replay(attempt, lambda messages: None)
    with pytest.raises(ReplayError, match="is a span record") as error:
        replay(records[3], lambda messages: None)
    assert error.value.span_id == records[3].span_id
    assert isinstance(error.value, lg.LLMGuardError)
    assert isinstance(error.value, ValueError)


def test_a_record_without_captured_input_is_refused() -> None:
    """With capture_content off there is nothing to replay, and the error says why."""
    lg.configure(capture_content=False)
    record = recorded_call(triage_with(FakeLLM([GOOD])), MESSAGES)
    with pytest.raises(ReplayError, match=r"no recorded input: .*capture_content=False"):
        replay(record, lambda messages: None)


def test_a_record_whose_redactor_failed_is_refused() -> None:
    """A failed redactor drops the content; the error names that, not capture settings."""

    def broken(record: lg.Record) -> lg.Record:
        raise RuntimeError("boom")

    lg.configure(redact=[broken])
    record = recorded_call(triage_with(FakeLLM([GOOD])), MESSAGES)
    with pytest.raises(ReplayError, match="a redactor failed"):
        replay(record, lambda messages: None)


def test_a_truncated_input_is_refused() -> None:
    """An input cut to fit max_content_bytes would send something else: refused."""
    lg.configure(max_content_bytes=256)
    long = [{"role": "user", "content": "word " * 200}]
    record = recorded_call(triage_with(FakeLLM([GOOD])), long)
    assert record.truncated is not None
    assert "input" in record.truncated
    with pytest.raises(ReplayError, match=r"cut to fit max_content_bytes \(it had \d+ bytes\)"):
        replay(record, lambda messages: None)


def test_a_redacted_input_is_refused_unless_allowed() -> None:
    """Redacted text is not what was sent: refused by default, replayed as is on request."""
    messages = [{"role": "user", "content": "Refund ann@example.com please"}]
    record = recorded_call(triage_with(FakeLLM([GOOD])), messages)
    with pytest.raises(ReplayError, match=r"redacted \(email\)"):
        replay(record, lambda messages: None)
    result = replay(record, lambda messages: messages[0]["content"], allow_redacted=True)
    assert result.new.value == "Refund [email] please"


def test_an_input_that_does_not_fit_the_function_is_refused() -> None:
    """Messages for a function without them, or arguments it cannot bind: refused early."""
    record = recorded_call(triage_with(FakeLLM([GOOD])), MESSAGES)
    called: list[Any] = []

    def no_messages(prompt: str) -> None:
        called.append(prompt)

    def needs_more(messages: list[Any], model: str) -> None:
        called.append(messages)

    with pytest.raises(ReplayError, match="takes no `messages` parameter"):
        replay(record, no_messages)
    with pytest.raises(ReplayError, match="missing a required argument: 'model'"):
        replay(record, needs_more)
    assert called == []


def test_as_dict_is_json_ready() -> None:
    """The replay's data serializes to JSON with both outcomes."""
    record = recorded_call(triage_with(FakeLLM([BAD] * 3)), MESSAGES)
    result = replay(record, triage_with(FakeLLM([GOOD])))
    data = json.loads(json.dumps(result.as_dict()))
    assert data["span_id"] == record.span_id
    assert data["changed"] is True
    assert data["differences"] == ["status", "error_type", "value"]
    assert data["old"]["status"] == "error"
    assert data["new"]["value"] == {"category": "bug", "urgency": 4}
    assert isinstance(result, Replay)


def test_inputs_that_are_no_call_and_unreachable_messages_are_refused() -> None:
    """A scalar input, or messages behind another positional-only parameter: refused."""
    record = recorded_call(triage_with(FakeLLM([GOOD])), MESSAGES)

    def late(model: str, messages: list[Any], /) -> None:
        raise AssertionError("not called")

    with pytest.raises(ReplayError, match="takes `messages` positionally after other"):
        replay(record, late)
    scalar = dataclasses.replace(record, input="just text")
    with pytest.raises(ReplayError, match="input is a str, not the messages or the arguments"):
        replay(scalar, late)


def test_a_function_without_a_signature_gets_the_messages_by_keyword() -> None:
    """A callable whose signature cannot be read is called with messages=..."""
    record = recorded_call(triage_with(FakeLLM([GOOD])), MESSAGES)
    result = replay(record, dict)
    assert result.new.value == {"messages": MESSAGES}
