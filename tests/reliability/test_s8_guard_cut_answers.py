"""An answer a provider's content filter cut short is not "repaired" into a value: closing
its brackets would make up an ending (a list missing the items the model had not written
yet). It is re-asked like any invalid answer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import llmguard as lg
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_message,
    chat_completion,
    openai_client,
    responses_events,
    responses_response,
)


class Step(BaseModel):
    n: int


FULL = [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]


def _cut(text: str, keep: int) -> str:
    """The answer cut after its ``keep``-th item and the comma after it, as a filter stops."""
    end = 0
    for _ in range(keep):
        end = text.index("}", end) + 1
    return text[: end + 1]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(keep=st.integers(min_value=1, max_value=3))
def test_a_chat_answer_cut_by_the_content_filter_is_reasked(keep: int) -> None:
    whole = json.dumps(FULL)
    cut = _cut(whole, keep)
    client, sent = openai_client(
        [chat_completion(cut, finish_reason="content_filter"), chat_completion(whole)]
    )

    @lg.guard(schema=list[Step], retries=1)
    def plan(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    with lg.testing.capture() as records:
        steps = plan([{"role": "user", "content": "Plan four steps"}])
    assert steps == [Step(n=n) for n in (1, 2, 3, 4)]
    assert len(sent) == 2
    first = next(r for r in records if r.kind == "attempt").attempt
    assert first is not None
    assert first["outcome"] == "invalid"
    assert "repair" not in first


def test_a_responses_answer_cut_by_the_content_filter_is_reasked() -> None:
    def message(text: str) -> dict[str, Any]:
        content = [{"type": "output_text", "text": text, "annotations": []}]
        return {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed"} | {
            "content": content
        }

    cut = responses_response(
        [message('[{"n": 1}, {"n": 2},')], status="incomplete", incomplete_reason="content_filter"
    )
    client, sent = openai_client([cut, responses_response([message('[{"n": 1}]')])])

    @lg.guard(schema=list[Step], retries=1, reask=lambda call, attempt: call)
    def plan(input: str) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input)

    assert plan("Plan") == [Step(n=1)]
    assert len(sent) == 2


def _message(text: str) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": []}]
    return {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed"} | {
        "content": content
    }


@pytest.mark.parametrize(
    ("status", "reason"),
    [("incomplete", None), ("incomplete", "server_overloaded"), ("in_progress", None)],
    ids=["incomplete without a reason", "incomplete for an unknown reason", "in progress"],
)
def test_a_responses_answer_that_is_not_completed_is_never_repaired(
    status: str, reason: str | None
) -> None:
    """Whatever status or reason the Responses API gives an answer that is not
    ``completed``, its text is not the whole answer: json-repair must not close it into
    a shorter list (``[Step(n=1), Step(n=2)]`` was returned with no re-ask)."""
    cut = responses_response(
        [_message('[{"n": 1}, {"n": 2},')], status=status, incomplete_reason=reason
    )
    client, sent = openai_client([cut, responses_response([_message(json.dumps(FULL))])])

    @lg.guard(schema=list[Step], retries=1, reask=lambda call, attempt: call)
    def plan(input: str) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input)

    with lg.testing.capture() as records:
        assert plan("Plan four steps") == [Step(n=n) for n in (1, 2, 3, 4)]
    assert len(sent) == 2
    first = next(r for r in records if r.kind == "attempt").attempt
    assert first is not None
    assert first["outcome"] == "invalid"
    assert "repair" not in first


def test_a_responses_answer_cut_by_max_output_tokens_is_still_truncated() -> None:
    """The one reason llmguard reads as a truncation keeps raising ``OutputTruncated``,
    with nothing re-asked."""
    cut = responses_response(
        [_message('[{"n": 1}, {"n": 2},')],
        status="incomplete",
        incomplete_reason="max_output_tokens",
    )
    client, sent = openai_client([cut])

    @lg.guard(schema=list[Step], retries=1, reask=lambda call, attempt: call)
    def plan(input: str) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input)

    with pytest.raises(lg.OutputTruncated) as raised:
        plan("Plan four steps")
    assert [attempt.outcome for attempt in raised.value.attempts] == ["truncated"]
    assert len(sent) == 1


def test_a_complete_answer_with_a_slip_is_still_repaired() -> None:
    client, sent = openai_client([chat_completion('[{"n": 1}, {"n": 2},]')])

    @lg.guard(schema=list[Step], retries=1)
    def plan(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert plan([{"role": "user", "content": "Plan"}]) == [Step(n=1), Step(n=2)]
    assert len(sent) == 1


def _responses_stream(pieces: list[str], ending: str) -> list[dict[str, Any]]:
    """A Responses API stream of ``pieces`` that ends with a ``response.failed`` event
    (the server failed mid-answer) or an ``error`` event instead of its completion."""
    events = responses_events(pieces)
    completed = events[-1]
    if ending == "response.failed":
        response = {**completed["response"], "status": "failed"}
        response["error"] = {"code": "server_error", "message": "The server had an error"}
        return [*events[:-1], {**completed, "type": "response.failed", "response": response}]
    error = {"type": "error", "code": "server_error", "message": "The server had an error"}
    return [*events[:-2], {**error, "param": None, "sequence_number": len(events)}]


@pytest.mark.parametrize("ending", ["response.failed", "error"])
def test_a_responses_stream_that_failed_mid_answer_is_not_repaired(ending: str) -> None:
    failed = _responses_stream(['[{"n": 1}, ', '{"n": 2},'], ending)
    whole = responses_events([json.dumps(FULL)])
    client, sent = openai_client([failed, whole])

    @lg.guard(schema=list[Step], retries=1, reask=lambda call, attempt: call)
    def plan(input: str) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input, stream=True)

    with lg.testing.capture() as records:
        assert plan("Plan four steps") == [Step(n=n) for n in (1, 2, 3, 4)]
    assert len(sent) == 2
    first = next(r for r in records if r.kind == "attempt").attempt
    assert first is not None
    # The server's failure, retried unchanged as transient (lg.ProviderError), not judged.
    assert first["outcome"] == "transient_error"
    assert "repair" not in first


def test_an_anthropic_turn_paused_mid_answer_is_not_repaired() -> None:
    """``pause_turn``: Anthropic paused a long turn, to be continued; the text so far is
    not the whole answer."""
    paused = anthropic_message('[{"n": 1}, {"n": 2},', stop_reason="pause_turn")
    client, sent = anthropic_client([paused, anthropic_message(json.dumps(FULL))])

    @lg.guard(schema=list[Step], retries=1)
    def plan(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(model="claude-sonnet-4-5", max_tokens=500, messages=messages)

    assert plan([{"role": "user", "content": "Plan four steps"}]) == [
        Step(n=n) for n in (1, 2, 3, 4)
    ]
    assert len(sent) == 2
