"""Tests for lg.guard: schemas, corrective re-asks, transient retries, fallbacks, streams.

The end-to-end tests go through the real ``openai`` and ``anthropic`` SDK clients on a
mock transport (tests/_helpers/sdk_mocks.py), so responses and streams are the SDKs' own objects
and every request the SDK sends can be read back.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Literal

import anthropic
import openai
import pytest
from anthropic.types import RawMessageStartEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import BaseModel, Field, ValidationInfo, field_validator

import llmguard as lg
from llmguard import Record, Usage
from llmguard.testing import FakeAPIError, FakeLLM, ToolAnswer, capture
from llmguard.types import StreamInfo
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_events,
    anthropic_message,
    async_anthropic_client,
    async_openai_client,
    chat_chunks,
    chat_completion,
    error_response,
    http,
    openai_client,
)


class Ticket(BaseModel):
    category: Literal["billing", "bug", "other"]
    urgency: int = Field(ge=1, le=5)


# Any: the SDKs type messages as TypedDicts; these tests are about what the guard sends.
OPENAI_MESSAGES: Any = [
    {"role": "system", "content": "Classify the support ticket as JSON."},
    {"role": "user", "content": "The app crashes when I open settings."},
]
ANTHROPIC_MESSAGES: Any = [{"role": "user", "content": "The app crashes when I open settings."}]
SYSTEM = "Classify the support ticket as JSON: category and urgency."

FENCED_BAD = (
    "Sure! Here is the classification:\n"
    '```json\n{"category": "bug", "urgency": "high"}\n```\n'
    "Let me know if you need anything else."
)
GOOD = '{"category": "bug", "urgency": 4}'
TICKET = Ticket(category="bug", urgency=4)


def split(records: Sequence[Record]) -> tuple[Record, list[Record]]:
    """The one llm record of a guarded call, and its attempt records in order."""
    (llm,) = [r for r in records if r.kind == "llm"]
    attempts = [r for r in records if r.kind == "attempt"]
    return llm, attempts


def outcomes(attempts: Sequence[Record]) -> list[str]:
    return [a.attempt["outcome"] for a in attempts if a.attempt is not None]


def counts(llm: Record) -> dict[str, Any]:
    assert llm.attempt is not None
    return {k: llm.attempt[k] for k in ("count", "corrective_retries", "transient_retries")}


def openai_tool_call(call_id: str, arguments: dict[str, Any]) -> dict[str, Any]:
    function = {"name": "file_ticket", "arguments": json.dumps(arguments)}
    return {"id": call_id, "type": "function", "function": function}


def tool_use(block_id: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": block_id, "name": "file_ticket", "input": arguments}


# -- the corrective re-ask through the real SDKs ------------------------------------------


def test_openai_fenced_answer_with_a_wrong_field_is_reasked_once() -> None:
    """Prose around fenced JSON with a mistyped field: one re-ask of original + answer + fix."""
    client, sent = openai_client(
        [chat_completion(FENCED_BAD, usage=(20, 12)), chat_completion(GOOD, usage=(40, 8))]
    )

    @lg.guard(schema=Ticket, retries=2)
    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    messages = copy.deepcopy(OPENAI_MESSAGES)
    before = copy.deepcopy(messages)
    with capture() as records:
        ticket = triage(messages)

    assert isinstance(ticket, Ticket)
    assert ticket == TICKET
    assert messages == before
    assert [r.json["messages"] for r in sent[:1]] == [before]
    *original, answer, correction = sent[1].json["messages"]
    assert original == before
    assert answer == {"role": "assistant", "content": FENCED_BAD}
    assert correction["role"] == "user"
    assert "$.urgency" in correction["content"]
    assert '"high"' in correction["content"]
    assert "errors.pydantic.dev" not in json.dumps(sent[1].json)
    llm, attempts = split(records)
    assert [a.parent_id for a in attempts] == [llm.span_id, llm.span_id]
    assert {a.trace_id for a in attempts} == {llm.trace_id}
    assert outcomes(attempts) == ["invalid", "ok"]
    assert llm.usage == Usage(input=60, output=20, total=80)
    assert [a.usage for a in attempts] == [
        Usage(input=20, output=12, total=32),
        Usage(input=40, output=8, total=48),
    ]
    assert counts(llm) == {"count": 2, "corrective_retries": 1, "transient_retries": 0}
    assert (llm.status, llm.model, llm.provider) == ("ok", "gpt-4o-mini", "openai")


def test_attempt_records_hold_what_each_attempt_sent_and_got() -> None:
    """Each attempt record has its errors, its answer, and what it sent when re-asked.

    The first attempt sends the call's own input, which the llm record holds once.
    """
    client, sent = openai_client([chat_completion(FENCED_BAD), chat_completion(GOOD)])

    @lg.guard(schema=Ticket)
    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with capture() as records:
        triage(OPENAI_MESSAGES)
    call, (first, second) = split(records)
    assert first.attempt is not None
    assert second.attempt is not None
    assert [e["path"] for e in first.attempt["errors"]] == ["$.urgency"]
    assert first.status == "error"
    assert call.input == OPENAI_MESSAGES
    assert (first.input, first.output) == (None, FENCED_BAD)
    assert (second.input, second.output) == (sent[1].json["messages"], GOOD)
    assert second.attempt["stage"] == "strict"


def test_anthropic_reask_keeps_system_and_anthropic_message_shape() -> None:
    """Through the Anthropic SDK: system stays separate and unchanged, roles alternate."""
    client, sent = anthropic_client(
        [anthropic_message(FENCED_BAD, usage=(30, 12)), anthropic_message(GOOD, usage=(50, 6))]
    )

    @lg.guard(schema=Ticket, retries=2)
    def triage(messages: Any, system: str) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5", max_tokens=200, system=system, messages=messages
        )

    messages = copy.deepcopy(ANTHROPIC_MESSAGES)
    with capture() as records:
        ticket = triage(messages, system=SYSTEM)

    assert ticket == TICKET
    assert messages == ANTHROPIC_MESSAGES
    first, second = (r.json for r in sent)
    assert second["system"] == first["system"] == SYSTEM
    assert {k: v for k, v in second.items() if k != "messages"} == {
        k: v for k, v in first.items() if k != "messages"
    }
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user"]
    assert second["messages"][:2] == [
        *ANTHROPIC_MESSAGES,
        {"role": "assistant", "content": FENCED_BAD},
    ]
    assert "$.urgency" in second["messages"][2]["content"]
    llm, attempts = split(records)
    assert outcomes(attempts) == ["invalid", "ok"]
    assert llm.usage == Usage(input=80, output=18, total=98)
    assert (llm.provider, llm.model) == ("anthropic", "claude-haiku-4-5")


def test_openai_tool_call_with_bad_arguments_is_answered_with_a_tool_message() -> None:
    """A bad tool call is re-asked with the assistant's tool_calls and a tool correction."""
    bad = openai_tool_call("call_1", {"category": "bug", "urgency": 9})
    good = openai_tool_call("call_2", {"category": "bug", "urgency": 4})
    client, sent = openai_client(
        [
            chat_completion(None, tool_calls=[bad], finish_reason="tool_calls"),
            chat_completion(None, tool_calls=[good], finish_reason="tool_calls"),
        ]
    )

    @lg.guard(schema=Ticket)
    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with capture() as records:
        assert triage(OPENAI_MESSAGES) == TICKET
    *original, assistant, tool = sent[1].json["messages"]
    assert original == OPENAI_MESSAGES
    assert assistant["role"] == "assistant"
    assert assistant["tool_calls"] == [bad]
    assert (tool["role"], tool["tool_call_id"]) == ("tool", "call_1")
    assert "$.urgency" in tool["content"]
    _, attempts = split(records)
    assert attempts[1].attempt is not None
    assert attempts[1].attempt["repair"] == "tool_call"


def test_anthropic_tool_use_is_answered_with_an_error_tool_result() -> None:
    """A bad tool_use block is re-asked with the block and a tool_result marked is_error."""
    bad = tool_use("toolu_1", {"category": "bug", "urgency": 9})
    good = tool_use("toolu_2", {"category": "bug", "urgency": 4})
    client, sent = anthropic_client(
        [
            anthropic_message([bad], stop_reason="tool_use"),
            anthropic_message([good], stop_reason="tool_use"),
        ]
    )

    @lg.guard(schema=Ticket)
    def triage(messages: Any, system: str) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5", max_tokens=200, system=system, messages=messages
        )

    assert triage(ANTHROPIC_MESSAGES, SYSTEM) == TICKET
    second = sent[1].json
    assert second["system"] == SYSTEM
    user, assistant, result = second["messages"]
    assert user == ANTHROPIC_MESSAGES[0]
    assert assistant == {"role": "assistant", "content": [bad]}
    assert result["role"] == "user"
    (block,) = result["content"]
    assert (block["type"], block["tool_use_id"], block["is_error"]) == (
        "tool_result",
        "toolu_1",
        True,
    )
    assert "$.urgency" in block["content"]


def test_each_reask_sends_only_the_last_failed_answer() -> None:
    """The third attempt carries the original input and only the second answer: no snowball."""
    answers = ["no idea", '{"category": "bug"}', GOOD]
    client, sent = openai_client([chat_completion(a) for a in answers])

    @lg.guard(schema=Ticket, retries=2)
    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert triage(OPENAI_MESSAGES) == TICKET
    second, third = (r.json["messages"] for r in sent[1:])
    assert len(third) == len(second) == len(OPENAI_MESSAGES) + 2
    assert third[:-2] == OPENAI_MESSAGES
    assert third[-2] == {"role": "assistant", "content": '{"category": "bug"}'}
    assert "$.urgency" in third[-1]["content"]
    assert "no idea" not in json.dumps(third)


# -- transient errors -------------------------------------------------------------------


def test_rate_limit_is_retried_with_backoff_and_the_same_prompt() -> None:
    """A 429 then success: one wait through the injected sleep, the request sent unchanged."""
    waits: list[float] = []
    client, sent = openai_client([error_response(429), chat_completion(GOOD)])

    @lg.guard(schema=Ticket, sleep=waits.append)
    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with capture() as records:
        assert triage(OPENAI_MESSAGES) == TICKET
    assert len(waits) == 1
    assert 0.5 <= waits[0] <= 1.5  # the first exponential step, plus up to a second of jitter
    assert sent[1].json["messages"] == sent[0].json["messages"] == OPENAI_MESSAGES
    assert sent[1].json == sent[0].json
    llm, attempts = split(records)
    assert counts(llm) == {"count": 2, "corrective_retries": 0, "transient_retries": 1}
    assert outcomes(attempts) == ["transient_error", "ok"]
    assert attempts[0].error_type == "openai.RateLimitError"


def test_anthropic_overload_waits_at_least_the_retry_after_header() -> None:
    """A 529 with Retry-After: 7 waits at least 7 seconds before the same request again."""
    waits: list[float] = []
    client, sent = anthropic_client(
        [error_response(529, "Overloaded", headers={"retry-after": "7"}), anthropic_message(GOOD)]
    )

    @lg.guard(schema=Ticket, sleep=waits.append)
    def triage(messages: Any, system: str) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5", max_tokens=200, system=system, messages=messages
        )

    assert triage(ANTHROPIC_MESSAGES, SYSTEM) == TICKET
    assert waits[0] >= 7
    assert sent[0].json == sent[1].json


def test_transient_retries_are_counted_apart_from_corrective_ones() -> None:
    """A timeout, a bad answer, a 500, then success: each failure counted in its own class."""
    waits: list[float] = []
    client, sent = openai_client(
        [
            http.ReadTimeout("slow"),
            chat_completion(FENCED_BAD),
            error_response(500),
            chat_completion(GOOD),
        ]
    )

    @lg.guard(schema=Ticket, sleep=waits.append)
    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with capture() as records:
        assert triage(OPENAI_MESSAGES) == TICKET
    llm, attempts = split(records)
    assert outcomes(attempts) == ["transient_error", "invalid", "transient_error", "ok"]
    assert counts(llm) == {"count": 4, "corrective_retries": 1, "transient_retries": 2}
    assert len(waits) == 2
    # The retry after the 500 repeats the corrective request, unchanged.
    assert sent[3].json == sent[2].json
    assert len(sent[2].json["messages"]) == len(OPENAI_MESSAGES) + 2


def test_exhausted_transient_retries_raise_the_last_error() -> None:
    """After transient_retries, the SDK's own error is raised, never a SchemaViolation."""
    waits: list[float] = []
    client, sent = openai_client([error_response(503)] * 3)

    @lg.guard(schema=Ticket, transient_retries=2, sleep=waits.append)
    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with capture() as records, pytest.raises(openai.InternalServerError):
        triage(OPENAI_MESSAGES)
    assert (len(sent), len(waits)) == (3, 2)
    assert waits[1] > waits[0] - 1  # exponential: the second step is larger, up to jitter
    llm, _ = split(records)
    assert llm.error_type == "openai.InternalServerError"


def test_other_errors_propagate_unchanged_and_are_not_retried() -> None:
    """A 400 is the caller's problem: raised as the SDK raised it, after one request."""
    client, sent = openai_client([error_response(400, "bad request")])

    @lg.guard(schema=Ticket, sleep=lambda seconds: None)
    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with capture() as records, pytest.raises(openai.BadRequestError):
        triage(OPENAI_MESSAGES)
    assert len(sent) == 1
    llm, attempts = split(records)
    assert outcomes(attempts) == ["error"]
    assert (llm.status, llm.error_type) == ("error", "openai.BadRequestError")


def test_retry_on_makes_other_exception_types_transient() -> None:
    """An exception type listed in retry_on is retried with backoff like a rate limit."""

    class Flaky(Exception):
        pass

    waits: list[float] = []
    model = FakeLLM([Flaky("try again"), GOOD])

    @lg.guard(schema=Ticket, retry_on=Flaky, sleep=waits.append)
    def triage(messages: Any) -> Any:
        return model(model="m", messages=messages)

    assert triage(OPENAI_MESSAGES) == TICKET
    assert len(waits) == 1
    assert model.calls[0] == model.calls[1]


def test_a_custom_backoff_decides_the_waits() -> None:
    """backoff= is a tenacity wait strategy: it is given the retry number."""
    import tenacity

    waits: list[float] = []
    model = FakeLLM([FakeAPIError(429), FakeAPIError(429), GOOD])

    @lg.guard(schema=Ticket, backoff=tenacity.wait_fixed(2), sleep=waits.append)
    def triage(messages: Any) -> Any:
        return model(messages=messages)

    assert triage(OPENAI_MESSAGES) == TICKET
    assert waits == [2.0, 2.0]


# -- exhaustion, fallbacks, on_fail ------------------------------------------------------


def test_exhaustion_raises_schema_violation_with_every_attempt() -> None:
    """Every attempt failing: SchemaViolation with each attempt, summed usage, the trace id."""
    client, _ = openai_client(
        [
            chat_completion("no idea", usage=(10, 3)),
            chat_completion('{"category": "bug"}', usage=(30, 4)),
        ]
    )

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with capture() as records, pytest.raises(lg.SchemaViolation) as excinfo:
        triage(OPENAI_MESSAGES)
    error = excinfo.value
    first, second = error.attempts
    assert [a.outcome for a in error.attempts] == ["invalid", "invalid"]
    assert [a.number for a in error.attempts] == [1, 2]
    assert (first.text, [e.path for e in first.errors]) == ("no idea", ["$"])
    assert [e.path for e in second.errors] == ["$.urgency"]
    assert first.usage == Usage(input=10, output=3, total=13)
    assert error.usage == Usage(input=40, output=7, total=47)
    assert all(a.latency_ms > 0 for a in error.attempts)
    assert isinstance(first.response, ChatCompletion)
    assert error.last_attempt is second
    assert "$.urgency" in str(error)
    llm, attempts = split(records)
    assert error.trace_id == llm.trace_id
    assert (llm.status, llm.error_type) == ("error", "llmguard.exceptions.SchemaViolation")
    assert llm.usage == error.usage
    assert llm.attempt is not None
    assert llm.attempt["outcome"] == "schema_violation"
    assert outcomes(attempts) == ["invalid", "invalid"]


def test_fallback_is_called_with_the_original_arguments_when_retries_run_out() -> None:
    """After the retries, the fallback gets the caller's messages and its value is returned."""
    client, sent = openai_client(
        [chat_completion("no idea"), chat_completion("still no idea"), chat_completion(GOOD)]
    )

    def bigger_model(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o", messages=messages)

    @lg.guard(schema=Ticket, retries=1, fallbacks=[bigger_model])
    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with capture() as records:
        assert triage(OPENAI_MESSAGES) == TICKET
    assert [r.json["model"] for r in sent] == ["gpt-4o-mini", "gpt-4o-mini", "gpt-4o"]
    assert sent[2].json["messages"] == OPENAI_MESSAGES
    llm, attempts = split(records)
    assert llm.attempt is not None
    assert (llm.attempt["fallback"], llm.attempt["count"]) == (1, 3)
    assert [a.attempt["function"] for a in attempts if a.attempt] == [
        triage.__qualname__,
        triage.__qualname__,
        bigger_model.__qualname__,
    ]


def test_fallbacks_that_fail_too_end_in_one_schema_violation() -> None:
    """A failing fallback gets its own re-asks; the violation carries all the attempts."""
    first = FakeLLM(["a", "b"])
    second = FakeLLM(["c", "d"])

    def fallback(messages: Any) -> Any:
        return second(messages=messages)

    @lg.guard(schema=Ticket, retries=1, fallbacks=[fallback])
    def triage(messages: Any) -> Any:
        return first(messages=messages)

    with pytest.raises(lg.SchemaViolation) as excinfo:
        triage(OPENAI_MESSAGES)
    assert [a.text for a in excinfo.value.attempts] == ["a", "b", "c", "d"]
    # The fallback's re-ask is built from its own answer, over the caller's messages.
    assert second.calls[1]["messages"][:-1] == [
        *OPENAI_MESSAGES,
        {"role": "assistant", "content": "c"},
    ]


def test_on_fail_return_gives_a_falsy_failure() -> None:
    """on_fail="return" returns a Failure carrying the error, the attempts and the usage."""
    client, _ = openai_client(
        [chat_completion("no", usage=(5, 1)), chat_completion("no", usage=(9, 1))]
    )

    @lg.guard(schema=Ticket, on_fail="return")
    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with capture() as records:
        failure = triage(OPENAI_MESSAGES)
    assert isinstance(failure, lg.Failure)
    assert not failure
    assert isinstance(failure.error, lg.SchemaViolation)
    assert failure.attempts == failure.error.attempts
    assert len(failure.attempts) == 2
    assert failure.usage == Usage(input=14, output=2, total=16)
    llm, _ = split(records)
    assert failure.error.trace_id == llm.trace_id
    assert llm.status == "error"


def test_on_fail_return_still_raises_errors_that_are_not_the_guards() -> None:
    """Only the guard's own decisions become a Failure; a bad request is still raised."""
    client, _ = openai_client([error_response(401)])

    @lg.guard(schema=Ticket, on_fail="return")
    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with pytest.raises(openai.AuthenticationError):
        triage(OPENAI_MESSAGES)


# -- truncation and refusals -------------------------------------------------------------


def test_openai_truncated_answer_raises_output_truncated_without_a_retry() -> None:
    """finish_reason "length" is not re-asked: OutputTruncated after one request."""
    client, sent = openai_client(
        [chat_completion('{"category": "bug", "urg', finish_reason="length"), chat_completion(GOOD)]
    )

    @lg.guard(schema=Ticket, retries=2)
    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with capture() as records, pytest.raises(lg.OutputTruncated) as excinfo:
        triage(OPENAI_MESSAGES)
    assert len(sent) == 1
    assert [a.outcome for a in excinfo.value.attempts] == ["truncated"]
    llm, _ = split(records)
    assert llm.finish_reason == "length"
    assert llm.attempt is not None
    assert llm.attempt["outcome"] == "truncated"
    assert excinfo.value.trace_id == llm.trace_id


def test_anthropic_max_tokens_raises_output_truncated_without_a_retry() -> None:
    """stop_reason "max_tokens" is a truncation too."""
    client, sent = anthropic_client(
        [anthropic_message('{"category": "b', stop_reason="max_tokens"), anthropic_message(GOOD)]
    )

    @lg.guard(schema=Ticket, retries=2)
    def triage(messages: Any, system: str) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5", max_tokens=5, system=system, messages=messages
        )

    with pytest.raises(lg.OutputTruncated):
        triage(ANTHROPIC_MESSAGES, SYSTEM)
    assert len(sent) == 1


def test_openai_refusal_raises_refused() -> None:
    """An OpenAI refusal message raises Refused with the model's explanation."""
    client, sent = openai_client([chat_completion(None, refusal="I can't help with that.")])

    @lg.guard(schema=Ticket)
    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with capture() as records, pytest.raises(lg.Refused) as excinfo:
        triage(OPENAI_MESSAGES)
    assert excinfo.value.refusal == "I can't help with that."
    assert len(sent) == 1
    llm, attempts = split(records)
    assert outcomes(attempts) == ["refused"]
    assert llm.error_type == "llmguard.exceptions.Refused"


def test_anthropic_refusal_stop_reason_raises_refused() -> None:
    """An Anthropic stop_reason "refusal" raises Refused, not a re-ask."""
    client, sent = anthropic_client([anthropic_message("I won't do that.", stop_reason="refusal")])

    @lg.guard(schema=Ticket)
    def triage(messages: Any, system: str) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5", max_tokens=200, system=system, messages=messages
        )

    with pytest.raises(lg.Refused) as excinfo:
        triage(ANTHROPIC_MESSAGES, SYSTEM)
    assert excinfo.value.refusal == "I won't do that."
    assert len(sent) == 1


def test_on_fail_return_covers_truncation_too() -> None:
    """OutputTruncated is a guard decision: on_fail="return" returns it as a Failure."""
    model = FakeLLM([lambda call: _truncated()])

    @lg.guard(schema=Ticket, on_fail="return")
    def triage(messages: Any) -> Any:
        return model(messages=messages)

    failure = triage(OPENAI_MESSAGES)
    assert isinstance(failure, lg.Failure)
    assert isinstance(failure.error, lg.OutputTruncated)


def _truncated() -> Any:
    return ChatCompletion.model_validate(chat_completion('{"cat', finish_reason="length"))


# -- async -------------------------------------------------------------------------------


async def test_async_openai_reask_and_records() -> None:
    """The async OpenAI client: same re-ask, same records, the caller's list unchanged."""
    client, sent = async_openai_client(
        [chat_completion(FENCED_BAD, usage=(20, 12)), chat_completion(GOOD, usage=(40, 8))]
    )

    @lg.guard(schema=Ticket)
    async def triage(messages: Any) -> Any:
        return await client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    messages = copy.deepcopy(OPENAI_MESSAGES)
    with capture() as records:
        assert await triage(messages) == TICKET
    assert messages == OPENAI_MESSAGES
    assert sent[1].json["messages"][:-2] == OPENAI_MESSAGES
    assert sent[1].json["messages"][-2] == {"role": "assistant", "content": FENCED_BAD}
    assert "$.urgency" in sent[1].json["messages"][-1]["content"]
    llm, attempts = split(records)
    assert [a.parent_id for a in attempts] == [llm.span_id] * 2
    assert llm.usage == Usage(input=60, output=20, total=80)


async def test_async_anthropic_reask_keeps_system() -> None:
    """The async Anthropic client: system unchanged, the correction as a user turn."""
    client, sent = async_anthropic_client([anthropic_message(FENCED_BAD), anthropic_message(GOOD)])

    @lg.guard(schema=Ticket)
    async def triage(messages: Any, system: str) -> Any:
        return await client.messages.create(
            model="claude-haiku-4-5", max_tokens=200, system=system, messages=messages
        )

    assert await triage(ANTHROPIC_MESSAGES, system=SYSTEM) == TICKET
    second = sent[1].json
    assert second["system"] == SYSTEM
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user"]


async def test_async_tool_call_answers_are_corrected_on_both_sdks() -> None:
    """Async: an OpenAI tool call and an Anthropic tool_use are each corrected once."""
    oai, oai_sent = async_openai_client(
        [
            chat_completion(None, tool_calls=[openai_tool_call("call_1", {"urgency": 2})]),
            chat_completion(None, tool_calls=[openai_tool_call("call_2", TICKET.model_dump())]),
        ]
    )
    claude, claude_sent = async_anthropic_client(
        [
            anthropic_message([tool_use("toolu_1", {"urgency": 2})], stop_reason="tool_use"),
            anthropic_message([tool_use("toolu_2", TICKET.model_dump())], stop_reason="tool_use"),
        ]
    )

    @lg.guard(schema=Ticket)
    async def with_openai(messages: Any) -> Any:
        return await oai.chat.completions.create(model="gpt-4o-mini", messages=messages)

    @lg.guard(schema=Ticket)
    async def with_claude(messages: Any) -> Any:
        return await claude.messages.create(
            model="claude-haiku-4-5", max_tokens=200, messages=messages
        )

    assert await with_openai(OPENAI_MESSAGES) == TICKET
    assert await with_claude(ANTHROPIC_MESSAGES) == TICKET
    tool = oai_sent[1].json["messages"][-1]
    assert (tool["role"], tool["tool_call_id"]) == ("tool", "call_1")
    assert "$.category" in tool["content"]
    (result,) = claude_sent[1].json["messages"][-1]["content"]
    assert (result["type"], result["tool_use_id"], result["is_error"]) == (
        "tool_result",
        "toolu_1",
        True,
    )


async def test_async_rate_limit_is_retried_with_an_awaited_sleep() -> None:
    """Async: a 429 is retried after the injected (async) sleep, the request unchanged."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    client, sent = async_openai_client([error_response(429), chat_completion(GOOD)])

    @lg.guard(schema=Ticket, sleep=sleep)
    async def triage(messages: Any) -> Any:
        return await client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with capture() as records:
        assert await triage(OPENAI_MESSAGES) == TICKET
    assert len(waits) == 1
    assert sent[0].json == sent[1].json
    llm, _ = split(records)
    assert counts(llm) == {"count": 2, "corrective_retries": 0, "transient_retries": 1}


async def test_async_exhaustion_falls_back_then_raises_or_returns() -> None:
    """Async: an async fallback is awaited; without one, SchemaViolation or a Failure."""
    client, sent = async_openai_client([chat_completion("no")] * 4 + [chat_completion(GOOD)])

    async def fallback(messages: Any) -> Any:
        return await client.chat.completions.create(model="gpt-4o", messages=messages)

    @lg.guard(schema=Ticket, retries=0, fallbacks=[fallback])
    async def with_fallback(messages: Any) -> Any:
        return await client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    @lg.guard(schema=Ticket, retries=1)
    async def raising(messages: Any) -> Any:
        return await client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    @lg.guard(schema=Ticket, retries=0, on_fail="return")
    async def returning(messages: Any) -> Any:
        return await client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with capture() as records, pytest.raises(lg.SchemaViolation) as excinfo:
        await raising(OPENAI_MESSAGES)
    assert len(excinfo.value.attempts) == 2
    assert excinfo.value.trace_id == split(records)[0].trace_id
    failure = await returning(OPENAI_MESSAGES)
    assert not failure
    assert await with_fallback(OPENAI_MESSAGES) == TICKET
    assert sent[-1].json["model"] == "gpt-4o"


async def test_async_truncation_and_refusal() -> None:
    """Async: truncation and refusal raise their own errors after one request each."""
    client, sent = async_anthropic_client(
        [
            anthropic_message('{"cat', stop_reason="max_tokens"),
            anthropic_message("No.", stop_reason="refusal"),
        ]
    )

    @lg.guard(schema=Ticket)
    async def triage(messages: Any) -> Any:
        return await client.messages.create(
            model="claude-haiku-4-5", max_tokens=5, messages=messages
        )

    with pytest.raises(lg.OutputTruncated):
        await triage(ANTHROPIC_MESSAGES)
    with pytest.raises(lg.Refused):
        await triage(ANTHROPIC_MESSAGES)
    assert len(sent) == 2


# -- streams -----------------------------------------------------------------------------


def test_openai_stream_is_validated_at_its_end_and_reasked() -> None:
    """A streamed answer under a schema is read to its end, validated, and re-asked."""
    client, sent = openai_client(
        [
            chat_chunks(['{"category": ', '"bug", "urgency": 9}'], usage=(12, 7)),
            chat_chunks(['{"category": "bug", ', '"urgency": 4}'], usage=(30, 7)),
        ]
    )

    @lg.guard(schema=Ticket)
    def triage(messages: Any) -> Any:
        return client.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )

    with capture() as records:
        assert triage(OPENAI_MESSAGES) == TICKET
    assert sent[1].json["messages"][-2] == {
        "role": "assistant",
        "content": '{"category": "bug", "urgency": 9}',
    }
    assert sent[1].json["stream"] is True
    llm, attempts = split(records)
    assert outcomes(attempts) == ["invalid", "ok"]
    assert llm.usage == Usage(input=42, output=14, total=56)


async def test_async_anthropic_stream_is_validated_at_its_end() -> None:
    """An Anthropic event stream under a schema: text and usage accumulated, then validated."""
    client, sent = async_anthropic_client(
        [
            anthropic_events(['{"category": "bug",', ' "urgency": 9}'], usage=(15, 9)),
            anthropic_events([GOOD], usage=(40, 6)),
        ]
    )

    @lg.guard(schema=Ticket)
    async def triage(messages: Any, system: str) -> Any:
        return await client.messages.create(
            model="claude-haiku-4-5", max_tokens=200, system=system, messages=messages, stream=True
        )

    with capture() as records:
        assert await triage(ANTHROPIC_MESSAGES, SYSTEM) == TICKET
    assert sent[1].json["system"] == SYSTEM
    assert sent[1].json["messages"][1] == {
        "role": "assistant",
        "content": '{"category": "bug", "urgency": 9}',
    }
    llm, _ = split(records)
    assert llm.usage == Usage(input=55, output=15, total=70)


def test_stream_cut_short_under_a_schema_is_retried_as_transient() -> None:
    """A timeout in the middle of a streamed answer is retried; its attempt is recorded."""
    head = chat_chunks(['{"category": '])[0]

    def cut_short(request: Any) -> Any:
        def body() -> Iterator[bytes]:
            yield f"data: {json.dumps(head)}\n\n".encode()
            raise http.ReadTimeout("the connection stalled")

        return http.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    waits: list[float] = []
    client, sent = openai_client([cut_short, chat_chunks([GOOD])])

    @lg.guard(schema=Ticket, sleep=waits.append)
    def triage(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)

    with capture() as records:
        assert triage(OPENAI_MESSAGES) == TICKET
    assert len(waits) == 1
    assert sent[0].json == sent[1].json
    llm, attempts = split(records)
    assert outcomes(attempts) == ["transient_error", "ok"]
    assert attempts[0].error_type == "openai.APITimeoutError"
    assert counts(llm)["transient_retries"] == 1


def test_stream_without_a_schema_is_passed_through_and_recorded_at_its_end() -> None:
    """No schema: the caller reads the SDK's chunks; the record has items and usage."""
    client, _ = openai_client([chat_chunks(["Hel", "lo"], usage=(9, 2))])

    @lg.guard
    def chat(messages: Any) -> Any:
        return client.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )

    with capture() as records:
        stream = chat(OPENAI_MESSAGES)
        assert records == []  # nothing is recorded until the caller is done
        chunks = list(stream)
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    llm, attempts = split(records)
    assert llm.stream == StreamInfo(items=len(chunks), end="exhausted")
    assert llm.usage == Usage(input=9, output=2, total=11)
    assert outcomes(attempts) == ["ok"]
    assert attempts[0].output == "Hello"


def test_stream_without_a_schema_cut_short_reaches_the_caller_and_the_records() -> None:
    """A passed-through stream that times out: the caller gets the error, both records too."""
    head = chat_chunks(["Hel"])[:2]

    def cut_short(request: Any) -> Any:
        def body() -> Iterator[bytes]:
            for chunk in head:
                yield f"data: {json.dumps(chunk)}\n\n".encode()
            raise http.ReadTimeout("the connection stalled")

        return http.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    client, _ = openai_client([cut_short])

    @lg.guard
    def chat(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)

    read: list[Any] = []

    def read_all() -> None:
        for chunk in chat(OPENAI_MESSAGES):
            read.append(chunk)

    with capture() as records, pytest.raises(openai.APITimeoutError):
        read_all()
    llm, attempts = split(records)
    assert llm.stream == StreamInfo(items=len(read), end="error")
    assert llm.error_type == attempts[0].error_type == "openai.APITimeoutError"
    assert outcomes(attempts) == ["error"]
    assert attempts[0].output == "Hel"


def test_stream_read_halfway_then_dropped_is_recorded() -> None:
    """A stream dropped after two chunks is recorded on garbage collection, with 2 items."""
    client, _ = openai_client([chat_chunks(["a", "b", "c", "d"], usage=(9, 4))])

    @lg.guard
    def chat(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)

    with capture() as records:
        stream = chat(OPENAI_MESSAGES)
        next(stream)
        next(stream)
        del stream
        gc.collect()
    llm, _ = split(records)
    assert llm.stream == StreamInfo(items=2, end="closed")
    assert llm.usage is None  # OpenAI reports usage in the last chunk, never read


def test_anthropic_stream_closed_halfway_keeps_the_usage_it_saw() -> None:
    """A closed Anthropic stream is recorded with message_start's input usage."""
    client, _ = anthropic_client([anthropic_events(["a", "b", "c"], usage=(25, 3))])

    @lg.guard
    def chat(messages: Any) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5", max_tokens=100, messages=messages, stream=True
        )

    with capture() as records:
        stream = chat(ANTHROPIC_MESSAGES)
        first = next(iter(stream))
        stream.close()
    assert isinstance(first, RawMessageStartEvent)
    llm, _ = split(records)
    assert llm.stream == StreamInfo(items=1, end="closed")
    assert llm.usage == Usage(input=25, output=1, total=26)


async def test_async_stream_passed_through_then_closed_or_dropped() -> None:
    """Async streams: read halfway then closed, or dropped, are both recorded."""
    client, _ = async_anthropic_client([anthropic_events(["a", "b"])] * 3)

    @lg.guard
    async def chat(messages: Any) -> Any:
        return await client.messages.create(
            model="claude-haiku-4-5", max_tokens=100, messages=messages, stream=True
        )

    with capture() as records:
        stream = await chat(ANTHROPIC_MESSAGES)
        events = [event async for event in stream]
    assert split(records)[0].stream == StreamInfo(items=len(events), end="exhausted")
    with capture() as records:
        stream = await chat(ANTHROPIC_MESSAGES)
        await stream.__anext__()
        await stream.__anext__()
        await stream.close()
    assert split(records)[0].stream == StreamInfo(items=2, end="closed")
    with capture() as records:
        stream = await chat(ANTHROPIC_MESSAGES)
        await stream.__anext__()
        del stream
        gc.collect()
    llm, _ = split(records)
    assert llm.stream == StreamInfo(items=1, end="closed")
    assert llm.usage == Usage(input=10, output=1, total=11)


# -- decoration-time checks --------------------------------------------------------------


def takes_messages(messages: Any) -> Any:
    return messages


def takes_question(question: str) -> Any:
    return question


def generator(messages: Any) -> Iterator[str]:
    yield "a"


async def async_generator(messages: Any) -> Any:
    yield "a"


@pytest.mark.parametrize(
    ("options", "fn", "message"),
    [
        ({"schema": {"type": "object", "properties": {"a": {"type": 12}}}}, None, "JSON Schema"),
        ({"schema": {"$schema": "https://example.com/nope"}}, None, "\\$schema"),
        ({"schema": Ticket, "retries": -1}, None, "retries"),
        ({"schema": Ticket, "retries": 1.5}, None, "retries"),
        ({"schema": Ticket, "transient_retries": True}, None, "transient_retries"),
        ({"schema": Ticket, "on_fail": "maybe"}, None, "on_fail"),
        ({"schema": Ticket, "fallbacks": [takes_messages, "small-model"]}, None, "fallbacks"),
        ({"schema": Ticket, "retry_on": ValueError("x")}, None, "retry_on"),
        ({"schema": Ticket, "retry_on": (TimeoutError, 429)}, None, "retry_on"),
        ({"schema": Ticket, "reask": "append"}, None, "reask"),
        ({"schema": Ticket, "backoff": 2.0}, None, "backoff"),
        ({"schema": Ticket, "sleep": 0}, None, "sleep"),
        ({"schema": Ticket, "context": ["doc"]}, None, "context"),
        ({"context": {"doc_ids": []}}, None, "context"),
        ({"schema": {"type": "object"}, "context": {"a": 1}}, None, "JSON Schema"),
        ({"schema": Ticket, "name": ""}, None, "name"),
        ({"schema": Ticket, "model": 4}, None, "model"),
        ({"schema": Ticket, "metadata": ["a"]}, None, "metadata"),
        ({"schema": "Ticket"}, None, "schema"),
        ({"schema": Ticket}, generator, "generator"),
        ({"schema": Ticket}, async_generator, "generator"),
        ({"schema": Ticket}, takes_question, "neither `messages`, `prompt` nor `input`"),
        ({}, 42, "function"),
    ],
)
def test_misuse_is_a_configuration_error_at_decoration_time(
    options: dict[str, Any], fn: Any, message: str
) -> None:
    """Each bad option fails when the guard is built or applied, naming what is wrong."""
    with pytest.raises(lg.ConfigurationError, match=message):
        lg.guard(**options) if fn is None else lg.guard(**options)(fn)


def test_functions_without_messages_are_fine_with_reask_or_no_retries() -> None:
    """A function taking neither messages nor prompt is accepted with reask= or retries=0."""
    lg.guard(schema=Ticket, reask=lambda call, attempt: call)(takes_question)
    lg.guard(schema=Ticket, retries=0)(takes_question)
    lg.guard(takes_question)  # without a schema there is nothing to re-ask

    def takes_anything(**kwargs: Any) -> Any:
        return kwargs

    lg.guard(schema=Ticket)(takes_anything)


def test_without_a_schema_generators_are_passed_through() -> None:
    """A guarded generator function without a schema still yields its items, recorded."""

    @lg.guard
    def tokens(messages: Any) -> Iterator[str]:
        yield from ["a", "b"]

    with capture() as records:
        assert list(tokens(OPENAI_MESSAGES)) == ["a", "b"]
    llm, _ = split(records)
    assert llm.stream == StreamInfo(items=2, end="exhausted")


async def test_without_a_schema_async_generators_are_passed_through() -> None:
    """A guarded async generator function without a schema is read with async for."""

    @lg.guard
    async def tokens(messages: Any) -> AsyncIterator[str]:
        for token in ["a", "b", "c"]:
            yield token

    with capture() as records:
        assert [token async for token in tokens(OPENAI_MESSAGES)] == ["a", "b", "c"]
    llm, attempts = split(records)
    assert llm.stream == StreamInfo(items=3, end="exhausted")
    assert attempts[0].output == "abc"


# -- reask, prompt functions, methods ----------------------------------------------------


def test_custom_reask_receives_call_and_attempt_and_its_call_is_sent() -> None:
    """reask=(call, attempt) -> call: what it returns is exactly what the next request is."""
    client, sent = openai_client([chat_completion(FENCED_BAD), chat_completion(GOOD)])
    seen: list[tuple[lg.Call, lg.Attempt]] = []

    def reask(call: lg.Call, attempt: lg.Attempt) -> lg.Call:
        seen.append((call, attempt))
        retry = [{"role": "user", "content": f"{call.argument('question')} -- JSON only!"}]
        return call.with_argument("question", retry).with_argument("model", "gpt-4o")

    @lg.guard(schema=Ticket, reask=reask)
    def triage(question: Any, model: str = "gpt-4o-mini") -> Any:
        messages = (
            question if isinstance(question, list) else [{"role": "user", "content": question}]
        )
        return client.chat.completions.create(model=model, messages=messages)

    assert triage("The app crashes") == TICKET
    ((call, attempt),) = seen
    assert isinstance(call, lg.Call)
    assert isinstance(attempt, lg.Attempt)
    assert call.argument("question") == "The app crashes"
    assert (attempt.number, attempt.outcome, attempt.text) == (1, "invalid", FENCED_BAD)
    assert [e.path for e in attempt.errors] == ["$.urgency"]
    assert sent[1].json["model"] == "gpt-4o"
    assert sent[1].json["messages"] == [
        {"role": "user", "content": "The app crashes -- JSON only!"}
    ]


def test_prompt_function_gets_the_correction_appended_to_its_prompt() -> None:
    """A function taking prompt: str is re-asked with the answer and the errors appended."""
    model = FakeLLM([FENCED_BAD, GOOD], shape="text")

    @lg.guard(schema=Ticket)
    def complete(prompt: str, temperature: float = 0.0) -> Any:
        return model(prompt, temperature=temperature)

    assert complete("Classify: the app crashes", temperature=0.2) == TICKET
    first, second = model.calls
    assert first == {"prompt": "Classify: the app crashes", "temperature": 0.2}
    assert second["prompt"].startswith("Classify: the app crashes\n")
    assert FENCED_BAD in second["prompt"]
    assert "$.urgency" in second["prompt"]
    assert second["temperature"] == 0.2


class Triage:
    """A class whose guarded method takes messages as its second parameter after self."""

    def __init__(self, client: openai.OpenAI) -> None:
        self.client = client

    @lg.guard(schema=Ticket)
    def classify(self, model: str, messages: Any, temperature: float = 0.0) -> Any:
        return self.client.chat.completions.create(
            model=model, messages=messages, temperature=temperature
        )


@pytest.mark.parametrize("through_the_class", [False, True])
def test_guarded_method_is_reasked_with_its_messages_argument(through_the_class: bool) -> None:
    """A method's positional messages (after self and model) are the ones re-asked."""
    client, sent = openai_client([chat_completion(FENCED_BAD), chat_completion(GOOD)])
    triage = Triage(client)
    if through_the_class:
        result = Triage.classify(triage, "gpt-4o-mini", OPENAI_MESSAGES, 0.5)
    else:
        result = triage.classify("gpt-4o-mini", OPENAI_MESSAGES, 0.5)
    assert result == TICKET
    assert [r.json["model"] for r in sent] == ["gpt-4o-mini", "gpt-4o-mini"]
    assert [r.json["temperature"] for r in sent] == [0.5, 0.5]
    assert sent[1].json["messages"][: len(OPENAI_MESSAGES)] == OPENAI_MESSAGES
    assert sent[1].json["messages"][-2] == {"role": "assistant", "content": FENCED_BAD}


# -- validation context ------------------------------------------------------------------


class Answer(BaseModel):
    text: str
    source_id: str | None  # None: the model abstains

    @field_validator("source_id")
    @classmethod
    def cite_a_retrieved_document(cls, value: str | None, info: ValidationInfo) -> str | None:
        retrieved = (info.context or {}).get("doc_ids", [])
        if value is not None and value not in retrieved:
            raise ValueError(f"cite one of the retrieved documents {retrieved}, or null")
        return value


def test_context_dict_reaches_validators() -> None:
    """context={...} reaches a field_validator: an unretrieved source is corrected."""
    model = FakeLLM(
        ['{"text": "5 days", "source_id": "kb-999"}', '{"text": "5 days", "source_id": "kb-12"}']
    )

    @lg.guard(schema=Answer, context={"doc_ids": ["kb-12", "kb-40"]})
    def answer(messages: Any) -> Any:
        return model(messages=messages)

    result = answer(OPENAI_MESSAGES)
    assert isinstance(result, Answer)
    assert (result.text, result.source_id) == ("5 days", "kb-12")
    correction = model.calls[1]["messages"][-1]["content"]
    assert "$.source_id" in correction
    assert "cite one of the retrieved documents ['kb-12', 'kb-40']" in correction


def test_context_callable_gets_the_call_arguments() -> None:
    """context=callable is given the call's arguments; abstaining (null) is valid."""
    model = FakeLLM(
        [
            '{"text": "5 days", "source_id": "kb-12"}',
            '{"text": "I do not know", "source_id": null}',
        ]
    )
    seen: list[Any] = []

    def context(messages: Any, doc_ids: list[str]) -> dict[str, Any]:
        seen.append(doc_ids)
        return {"doc_ids": doc_ids}

    @lg.guard(schema=Answer, context=context)
    def answer(messages: Any, doc_ids: list[str]) -> Any:
        return model(messages=messages)

    assert answer(OPENAI_MESSAGES, doc_ids=["kb-40"]) == Answer(
        text="I do not know", source_id=None
    )
    assert seen == [["kb-40"], ["kb-40"]]


# -- inline attempts ---------------------------------------------------------------------


def test_inline_attempts_reask_and_leave_the_value() -> None:
    """for attempt in guard.attempts(messages): the re-ask is in attempt.messages."""
    client, sent = openai_client([chat_completion(FENCED_BAD), chat_completion(GOOD)])
    guard = lg.guard(schema=Ticket, retries=2)
    messages = copy.deepcopy(OPENAI_MESSAGES)

    with capture() as records:
        for attempt in guard.attempts(messages):
            with attempt:
                attempt.submit(
                    client.chat.completions.create(model="gpt-4o-mini", messages=attempt.messages)
                )
    assert attempt.value == TICKET
    assert messages == OPENAI_MESSAGES
    assert sent[1].json["messages"][:-2] == OPENAI_MESSAGES
    assert "$.urgency" in sent[1].json["messages"][-1]["content"]
    llm, attempts = split(records)
    assert outcomes(attempts) == ["invalid", "ok"]
    assert llm.name == "Guard.attempts"
    assert llm.usage == Usage(input=20, output=10, total=30)


async def test_async_inline_attempts() -> None:
    """async for works the same way, with the async client."""
    client, sent = async_anthropic_client([anthropic_message(FENCED_BAD), anthropic_message(GOOD)])
    guard = lg.guard(schema=Ticket, name="triage")

    with capture() as records:
        async for attempt in guard.attempts(ANTHROPIC_MESSAGES):
            with attempt:
                attempt.submit(
                    await client.messages.create(
                        model="claude-haiku-4-5",
                        max_tokens=200,
                        system=SYSTEM,
                        messages=attempt.messages,  # type: ignore[arg-type]
                    )
                )
    assert attempt.value == TICKET
    assert [m["role"] for m in sent[1].json["messages"]] == ["user", "assistant", "user"]
    llm, attempts = split(records)
    assert llm.name == "triage"
    assert outcomes(attempts) == ["invalid", "ok"]


def test_inline_rate_limit_raised_inside_the_attempt_is_retried() -> None:
    """A 429 raised inside `with attempt` is retried after the backoff, not re-raised."""
    waits: list[float] = []
    model = FakeLLM([FakeAPIError(429), GOOD])

    with capture() as records:
        for attempt in lg.guard(schema=Ticket, sleep=waits.append).attempts(OPENAI_MESSAGES):
            with attempt:
                attempt.submit(model(messages=attempt.messages))
    assert attempt.value == TICKET
    assert len(waits) == 1
    assert model.calls[0] == model.calls[1]
    llm, _ = split(records)
    assert counts(llm) == {"count": 2, "corrective_retries": 0, "transient_retries": 1}


async def test_async_inline_rate_limit_is_retried() -> None:
    """async for: a 429 inside `with attempt` waits, then the same messages are sent."""
    waits: list[float] = []
    model = FakeLLM([FakeAPIError(429), GOOD])
    async for attempt in lg.guard(schema=Ticket, sleep=waits.append).attempts(OPENAI_MESSAGES):
        with attempt:
            attempt.submit(await model.acall(messages=attempt.messages))
    assert attempt.value == TICKET
    assert len(waits) == 1


def test_inline_other_errors_leave_the_loop_unchanged() -> None:
    """Any other exception inside `with attempt` is raised from the loop as it was."""
    boom = ValueError("bug in the caller")

    def loop() -> None:
        for attempt in lg.guard(schema=Ticket).attempts(OPENAI_MESSAGES):
            with attempt:
                raise boom

    with capture() as records, pytest.raises(ValueError, match="bug in the caller") as excinfo:
        loop()
    assert excinfo.value is boom
    llm, attempts = split(records)
    assert (llm.error_type, outcomes(attempts)) == ("ValueError", ["error"])


def test_inline_prompt_and_on_fail_return() -> None:
    """attempts(prompt=...) re-asks through attempt.prompt; on_fail="return" leaves a Failure."""
    model = FakeLLM(["nope", "still nope"], shape="text")
    guard = lg.guard(schema=Ticket, on_fail="return")
    for attempt in guard.attempts(prompt="Classify: the app crashes"):
        with attempt:
            assert attempt.messages is None
            assert attempt.prompt is not None
            attempt.submit(model(attempt.prompt))
    assert isinstance(attempt.value, lg.Failure)
    assert "nope" in model.calls[1]["prompt"]


def test_inline_loop_left_early_still_ends_its_records() -> None:
    """Breaking out of the loop ends the call's records, with no error left behind."""
    model = FakeLLM(["nope"])
    with capture() as records:
        for attempt in lg.guard(schema=Ticket).attempts(OPENAI_MESSAGES):
            with attempt:
                attempt.submit(model(messages=attempt.messages))
            break
        gc.collect()
    llm, attempts = split(records)
    assert llm.status == "error"
    assert [a.parent_id for a in attempts] == [llm.span_id]
    assert attempt.value is None


async def test_async_inline_loop_left_early_still_ends_its_records() -> None:
    """An `async for` left early is finalized without a context error."""
    gen = lg.guard(schema=Ticket).attempts(OPENAI_MESSAGES).__aiter__()
    with capture() as records:
        attempt = await gen.__anext__()
        with attempt:
            attempt.submit(GOOD)
        await gen.aclose()
    llm, attempts = split(records)
    assert (llm.status, len(attempts)) == ("error", 1)


def test_inline_attempts_take_messages_or_a_prompt() -> None:
    """attempts() needs exactly one of messages and prompt=."""
    guard = lg.guard(schema=Ticket)
    with pytest.raises(lg.ConfigurationError):
        guard.attempts()
    with pytest.raises(lg.ConfigurationError):
        guard.attempts(OPENAI_MESSAGES, prompt="both")


def test_inline_attempt_without_submit_is_an_error() -> None:
    """An attempt that ends without submit() is reported, not mistaken for an answer."""

    def loop() -> None:
        for attempt in lg.guard(schema=Ticket).attempts(OPENAI_MESSAGES):
            with attempt:
                pass

    with pytest.raises(lg.ConfigurationError, match="submit"):
        loop()


# -- without a schema, and other options ------------------------------------------------


def test_without_a_schema_the_response_is_returned_untouched_and_recorded() -> None:
    """Bare @lg.guard returns the SDK's object itself and records model, usage, finish."""
    client, _ = openai_client([chat_completion("hello", usage=(7, 1), cached=3)])

    @lg.guard
    def chat(messages: Any) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with capture() as records:
        response = chat(OPENAI_MESSAGES)
    assert isinstance(response, ChatCompletion)
    assert response.choices[0].message.content == "hello"
    llm, attempts = split(records)
    assert llm.usage == Usage(input=7, output=1, cached_input=3, total=8)
    assert (llm.model, llm.provider, llm.finish_reason) == ("gpt-4o-mini", "openai", "stop")
    assert llm.metadata["response_id"] == "chatcmpl-1"
    assert outcomes(attempts) == ["ok"]


def test_unknown_response_shapes_are_returned_with_usage_unknown() -> None:
    """A response no adapter reads is returned as it is; its usage is not guessed."""

    class Custom:
        text = "hello"

    answer = Custom()

    @lg.guard
    def chat(messages: Any) -> Any:
        return answer

    with capture() as records:
        assert chat(OPENAI_MESSAGES) is answer
    llm, attempts = split(records)
    assert (llm.usage, llm.model, llm.status) == (None, None, "ok")
    assert outcomes(attempts) == ["ok"]


def test_one_guard_applies_to_many_functions() -> None:
    """A Guard is a reusable policy: each function gets its own records and name."""
    policy = lg.guard(schema=Ticket, tags=["triage"], metadata={"team": "support"})
    first, second = FakeLLM([GOOD]), FakeLLM([GOOD], shape="anthropic")

    @policy
    def with_openai(messages: Any) -> Any:
        return first(messages=messages)

    @policy
    def with_claude(messages: Any) -> Any:
        return second(messages=messages)

    with capture() as records:
        assert with_openai(OPENAI_MESSAGES) == with_claude(ANTHROPIC_MESSAGES) == TICKET
    llms = [r for r in records if r.kind == "llm"]
    assert [r.name for r in llms] == [with_openai.__qualname__, with_claude.__qualname__]
    assert [r.provider for r in llms] == ["openai", "anthropic"]
    assert all(r.tags == ("triage",) and r.metadata["team"] == "support" for r in llms)


def test_name_model_provider_and_a_single_tag_are_recorded() -> None:
    """name=, model=, provider= and tags= (a string is one tag) reach the llm record."""
    model = FakeLLM([GOOD], shape="text")

    @lg.guard(schema=Ticket, name="triage", model="local-7b", provider="vllm", tags="prod")
    def triage(prompt: str) -> Any:
        return model(prompt)

    with capture() as records:
        triage("hi")
    llm, _ = split(records)
    assert (llm.name, llm.model, llm.provider, llm.tags) == (
        "triage",
        "local-7b",
        "vllm",
        ("prod",),
    )


def test_the_requested_model_is_recorded_when_the_response_names_another() -> None:
    """The model argument of the call is the record's model; the response's is kept beside."""
    client, _ = openai_client([chat_completion(GOOD, model="gpt-4o-mini-2024-07-18")])

    @lg.guard(schema=Ticket)
    def triage(messages: Any, model: str) -> Any:
        return client.chat.completions.create(model=model, messages=messages)

    with capture() as records:
        triage(OPENAI_MESSAGES, model="gpt-4o-mini")
    llm, _ = split(records)
    assert llm.model == "gpt-4o-mini"
    assert llm.metadata["response_model"] == "gpt-4o-mini-2024-07-18"


@pytest.mark.parametrize(
    ("schema", "answer", "expected"),
    [
        (list[int], "The ids are [1, 2, 3].", [1, 2, 3]),
        (Literal["yes", "no"], "yes", "yes"),
        (
            {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}},
            'Here: {"id": 7}',
            {"id": 7},
        ),
    ],
)
def test_any_type_and_json_schema_dicts_are_schemas(
    schema: Any, answer: str, expected: Any
) -> None:
    """TypeAdapter types and JSON Schema dicts validate answers like models do."""
    model = FakeLLM([answer])

    @lg.guard(schema=schema)
    def ask(messages: Any) -> Any:
        return model(messages=messages)

    assert ask(OPENAI_MESSAGES) == expected


def test_guarded_call_nests_under_the_current_span() -> None:
    """A guarded call inside lg.span is its child, in the same trace."""
    model = FakeLLM([GOOD])

    @lg.guard(schema=Ticket)
    def triage(messages: Any) -> Any:
        return model(messages=messages)

    with capture() as records, lg.span("handle") as outer:
        triage(OPENAI_MESSAGES)
    llm, _ = split(records)
    assert (llm.parent_id, llm.trace_id) == (outer.span_id, outer.trace_id)


def test_content_capture_off_keeps_only_metadata() -> None:
    """With capture_content=False the records hold no messages or answers."""
    lg.configure(capture_content=False)
    model = FakeLLM([FENCED_BAD, GOOD])

    @lg.guard(schema=Ticket)
    def triage(messages: Any) -> Any:
        return model(messages=messages)

    with capture() as records:
        triage(OPENAI_MESSAGES)
    assert all(r.input is None and r.output is None for r in records)
    llm, _ = split(records)
    assert counts(llm)["corrective_retries"] == 1


# -- properties --------------------------------------------------------------------------

answers = st.text(max_size=200) | st.from_regex(r"[\s\S]*\{[\s\S]*\}[\s\S]*", fullmatch=True)


# Each example builds a guard and runs up to three attempts: no deadline on a busy machine.
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts=st.lists(answers, min_size=1, max_size=3),
    shape=st.sampled_from(["openai", "anthropic", "text"]),
)
def test_any_text_answer_gives_a_value_or_a_schema_violation(texts: list[str], shape: Any) -> None:
    """Whatever the model says, a guarded call gives a valid Ticket or a SchemaViolation."""
    model = FakeLLM(texts, shape=shape)

    @lg.guard(schema=Ticket, retries=len(texts) - 1)
    def triage(messages: Any) -> Any:
        return model(messages=messages)

    violation: lg.SchemaViolation | None = None
    try:
        value = triage(OPENAI_MESSAGES)
    except lg.SchemaViolation as error:
        violation = error
    if violation is None:
        assert isinstance(value, Ticket)
    else:
        assert len(violation.attempts) == len(texts)
        assert all(a.outcome == "invalid" and a.errors for a in violation.attempts)


prose = st.text(st.characters(exclude_characters="{}[]`\"'"), max_size=40)


@settings(max_examples=100, deadline=None)
@given(
    urgency=st.integers(1, 5),
    category=st.sampled_from(["billing", "bug", "other"]),
    before=prose,
    after=prose,
    fence=st.sampled_from(["", "```\n", "```json\n"]),
)
def test_valid_json_in_prose_and_fences_is_accepted_first_time(
    urgency: int, category: str, before: str, after: str, fence: str
) -> None:
    """Valid JSON wrapped in any prose and fences is found without a retry."""
    body = json.dumps({"category": category, "urgency": urgency})
    closing = "\n```" if fence else ""
    model = FakeLLM([f"{before}{fence}{body}{closing}{after}"])

    @lg.guard(schema=Ticket, retries=0)
    def triage(messages: Any) -> Any:
        return model(messages=messages)

    assert triage(OPENAI_MESSAGES) == Ticket(category=category, urgency=urgency)  # type: ignore[arg-type]


def test_anthropic_client_is_a_real_sdk_client() -> None:
    """The Anthropic answers are the SDK's own Message objects."""
    client, _ = anthropic_client([anthropic_message(GOOD)])

    @lg.guard
    def chat(messages: Any) -> Any:
        return client.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=messages)

    assert isinstance(chat(ANTHROPIC_MESSAGES), anthropic.types.Message)


@pytest.mark.parametrize("shape", ["openai", "anthropic"])
def test_tool_answer_from_fake_llm_is_validated_as_arguments(shape: Any) -> None:
    """FakeLLM tool answers validate through the tool-call path, with repair tool_call."""
    model = FakeLLM([ToolAnswer("file_ticket", TICKET.model_dump())], shape=shape)

    @lg.guard(schema=Ticket)
    def triage(messages: Any) -> Any:
        return model(messages=messages)

    with capture() as records:
        assert triage(OPENAI_MESSAGES) == TICKET
    _, (attempt,) = split(records)
    assert attempt.attempt is not None
    assert attempt.attempt["repair"] == "tool_call"


# -- attempt 1 made directly, or by the flow --------------------------------------------
#
# With nothing to reserve (no cap, budget or rate limit), a guarded call makes its first
# attempt without the flow's generator and hands over to the flow only when that attempt
# is not accepted. A budget open around the call sends every attempt through the flow:
# both ways must record the same thing.

_SCENARIOS: dict[str, list[Any]] = {
    "ok": [chat_completion(GOOD)],
    "invalid, then ok": [chat_completion(FENCED_BAD), chat_completion(GOOD, usage=(30, 6))],
    "truncated": [chat_completion('{"category": "bu', finish_reason="length")],
    "refused": [chat_completion(None, refusal="I can't help with that.")],
    "rate limited, then ok": [error_response(429), chat_completion(GOOD)],
    "server error": [error_response(400)],
    "invalid twice": [chat_completion("no"), chat_completion("still no")],
}


def _comparable(record: Record) -> dict[str, Any]:
    data = record.to_dict()
    for key in ("trace_id", "span_id", "parent_id", "start", "end", "duration_ms", "limits"):
        data.pop(key, None)
    if data.get("attempt"):
        data["attempt"] = {k: v for k, v in data["attempt"].items() if k != "latency_ms"}
    data["metadata"] = {
        k: v for k, v in (data.get("metadata") or {}).items() if not k.startswith("counted_")
    }
    return data


def _guarded_records(
    answers: list[Any], budgeted: bool, asynchronous: bool
) -> tuple[str, list[dict[str, Any]]]:
    guard = lg.guard(schema=Ticket, retries=1, transient_retries=1, sleep=lambda s: None)
    if asynchronous:
        aclient, _ = async_openai_client(copy.deepcopy(answers))

        @guard
        async def atriage(messages: Any) -> Any:
            return await aclient.chat.completions.create(model="gpt-4o-mini", messages=messages)

        def triage(messages: Any) -> Any:
            return asyncio.run(atriage(messages))
    else:
        client, _ = openai_client(copy.deepcopy(answers))

        @guard
        def triage(messages: Any) -> Any:
            return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with capture() as records:
        try:
            if budgeted:
                with lg.budget(max_tokens=10**9):
                    outcome = repr(triage(copy.deepcopy(OPENAI_MESSAGES)))
            else:
                outcome = repr(triage(copy.deepcopy(OPENAI_MESSAGES)))
        except Exception as exc:
            outcome = f"{type(exc).__name__}: {exc}"
    return outcome, [_comparable(r) for r in records if r.kind in ("llm", "attempt")]


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("scenario", list(_SCENARIOS))
def test_attempt_one_made_directly_records_what_the_flow_records(
    scenario: str, asynchronous: bool
) -> None:
    """Outcome and records are the same with and without the flow's first attempt."""
    direct = _guarded_records(_SCENARIOS[scenario], False, asynchronous)
    through_flow = _guarded_records(_SCENARIOS[scenario], True, asynchronous)
    assert direct == through_flow
    assert direct[1], "no record was captured"
