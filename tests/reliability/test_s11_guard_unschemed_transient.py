"""A guard without a schema, whose function returns a whole response in which the
provider reported a transient failure (a Chat Completions 200 body holding an ``error``
with a 503, 429 or ``overloaded`` code; a Responses API response that ``failed`` with a
server error). The records said the attempt failed, but the call took it as the end:
no transient retry, where a raised 503 or the same body under a schema is retried
unchanged. Now it is retried the same way, and its attempt is a ``transient_error``;
when the retries run out, the last such response goes back to the caller as it came."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import llmguard as lg
from tests._helpers.sdk_mocks import (
    async_openai_client,
    chat_completion,
    openai_client,
    responses_events,
    responses_response,
)

USER = [{"role": "user", "content": "It crashes"}]


def _no_wait(seconds: float) -> None:
    return None


def _body(code: Any, message: str = "Upstream failed") -> dict[str, Any]:
    """A gateway's 200 body for a failed upstream call: the error, no answer."""
    return {"error": {"code": code, "message": message}}


def _failed_response() -> dict[str, Any]:
    body = responses_response([], status="failed", usage=None)
    return {**body, "error": {"code": "server_error", "message": "The server had an error"}}


def _outcomes(records: list[lg.Record], kind: str) -> list[str]:
    return [r.attempt["outcome"] for r in records if r.kind == kind and r.attempt]


@pytest.mark.parametrize("code", [503, "503", 429, "overloaded"])
def test_a_transient_failure_in_a_chat_body_is_retried_unchanged(code: Any) -> None:
    """The second request is the first, byte for byte; the caller gets the answer."""
    client, sent = openai_client([_body(code), chat_completion("Hello")])

    @lg.guard(sleep=_no_wait)
    def chat(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="openrouter/x", messages=messages)

    with lg.testing.capture() as records:
        response = chat(list(USER))
    assert response.choices[0].message.content == "Hello"
    assert len(sent) == 2
    assert sent[1].json == sent[0].json
    assert _outcomes(records, "attempt") == ["transient_error", "ok"]
    attempts = [r for r in records if r.kind == "attempt"]
    assert attempts[0].error_type == "llmguard.exceptions.ProviderError"
    (call,) = [r for r in records if r.kind == "llm"]
    assert call.status == "ok"
    assert call.attempt is not None
    assert call.attempt["transient_retries"] == 1


def test_a_failed_responses_api_response_is_retried() -> None:
    """``status: failed`` with a ``server_error``: retried, the completed one returned."""
    done = responses_response(
        [
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Hello", "annotations": []}],
            }
        ]
    )
    client, sent = openai_client([_failed_response(), done])

    @lg.guard(sleep=_no_wait)
    def respond(text: str) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=text)

    with lg.testing.capture() as records:
        response = respond("It crashes")
    assert response.status == "completed"
    assert response.output_text == "Hello"
    assert len(sent) == 2
    assert sent[1].json == sent[0].json
    assert _outcomes(records, "attempt") == ["transient_error", "ok"]


def test_when_retries_run_out_the_last_response_is_returned_as_it_came() -> None:
    """Three failed bodies, two transient retries: the third body is the call's value,
    every attempt a transient error, and the call's record an error."""
    bodies = [_body(503, f"failure {n}") for n in range(3)]
    client, sent = async_openai_client(bodies)

    @lg.guard(transient_retries=2, sleep=_no_wait)
    async def chat(messages: list[dict[str, Any]]) -> Any:
        return await client.chat.completions.create(model="openrouter/x", messages=messages)

    with lg.testing.capture() as records:
        response = asyncio.run(chat(list(USER)))
    assert response.error == {"code": 503, "message": "failure 2"}
    assert len(sent) == 3
    assert _outcomes(records, "attempt") == ["transient_error"] * 3
    (call,) = [r for r in records if r.kind == "llm"]
    assert call.status == "error"
    assert call.attempt is not None
    assert (call.attempt["outcome"], call.attempt["transient_retries"]) == ("error", 2)


def test_a_fallback_answers_when_the_first_function_keeps_failing() -> None:
    """As for a raised 503: the retries run out, then the fallback's answer is the value."""
    client, sent = openai_client([_body(429), _body(429), chat_completion("From the fallback")])

    def small(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="small", messages=messages)

    @lg.guard(transient_retries=1, fallbacks=[small], sleep=_no_wait)
    def chat(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="big", messages=messages)

    response = chat(list(USER))
    assert response.choices[0].message.content == "From the fallback"
    assert [request.json["model"] for request in sent] == ["big", "big", "small"]


def test_a_failure_that_is_not_transient_is_returned_at_once() -> None:
    """A 400 in the body is no reason to send the same request again."""
    client, sent = openai_client([_body(400, "Invalid model"), chat_completion("unused")])

    @lg.guard(sleep=_no_wait)
    def chat(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="openrouter/x", messages=messages)

    with lg.testing.capture() as records:
        response = chat(list(USER))
    assert response.error == {"code": 400, "message": "Invalid model"}
    assert len(sent) == 1
    assert _outcomes(records, "attempt") == ["error"]


def test_a_stream_that_reports_its_failure_leaves_a_call_record_that_says_so() -> None:
    """A stream handed back unread cannot be retried, but its ``llm`` record says the
    provider failed inside it, as its attempt's does (the call's status said ``ok``)."""
    cut = responses_events(["Hel"])[:3]
    cut.append({"type": "error", "code": "server_error", "message": "The server had an error"})
    cut[-1]["param"], cut[-1]["sequence_number"] = None, 3
    client, sent = openai_client([cut])

    @lg.guard(sleep=_no_wait)
    def respond(text: str) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=text, stream=True)

    with lg.testing.capture() as records:
        events = [event.type for event in respond("It crashes")]
    assert events[-1] == "error"
    assert len(sent) == 1
    (attempt,) = [r for r in records if r.kind == "attempt"]
    (call,) = [r for r in records if r.kind == "llm"]
    assert (attempt.status, call.status) == ("error", "error")
    assert attempt.error_type == call.error_type == "llmguard.exceptions.ProviderError"
