"""A whole (not streamed) Chat Completions response whose 200 body carries an ``error``
object, as gateways such as OpenRouter send when the upstream model failed: the OpenAI
SDK raises for none of it and returns a ``ChatCompletion`` (its ``choices`` ``None``, or
empty, or one finished with ``"error"``). It was judged as an answer -- the SDK object
itself validated against the schema, or an empty answer -- and re-asked with a
correction. It is the provider's failure: read into ``Reply.error``, transient codes
retried unchanged (a numeric code read as an HTTP status), else ``lg.ProviderError``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard.adapters import ReportedError, adapt
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import (
    async_openai_client,
    chat_completion,
    openai_client,
    responses_response,
)

GOOD = '{"category": "bug", "urgency": 2}'
USER = [{"role": "user", "content": "It crashes"}]


def _no_wait(seconds: float) -> None:
    return None


def _bare(code: Any = 502, message: str = "Upstream error") -> dict[str, Any]:
    """OpenRouter's body for a failed upstream: the error and nothing else of an answer."""
    return {"error": {"code": code, "message": message, "metadata": {"provider_name": "X"}}}


def _empty_choices(code: Any = 429) -> dict[str, Any]:
    body = chat_completion(None, usage=None)
    return {**body, "choices": [], "error": {"code": code, "message": "Rate limited"}}


def _finished_with_error(code: Any = "server_error") -> dict[str, Any]:
    body = chat_completion("", finish_reason="error")
    return {**body, "error": {"type": "server_error", "code": code, "message": "Model failed"}}


def _guarded(client: Any, **options: Any) -> Any:
    @lg.guard(schema=Ticket, sleep=_no_wait, **options)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="openrouter/x", messages=messages)

    return triage


@pytest.mark.parametrize(
    "body",
    [_bare(), _bare("503"), _empty_choices(), _finished_with_error()],
    ids=["bare-502", "bare-503-string", "empty-choices-429", "finish-error-server_error"],
)
def test_a_transient_failure_in_the_body_is_retried_unchanged(body: dict[str, Any]) -> None:
    """The second request is the first, byte for byte: no correction, no echoed answer."""
    client, sent = openai_client([body, chat_completion(GOOD)])
    with lg.testing.capture() as records:
        assert _guarded(client, retries=1)(list(USER)) == Ticket(category="bug", urgency=2)
    assert len(sent) == 2
    assert sent[1].json == sent[0].json
    attempts = [r for r in records if r.kind == "attempt"]
    assert [r.attempt["outcome"] for r in attempts if r.attempt] == ["transient_error", "ok"]
    assert attempts[0].error_type == "llmguard.exceptions.ProviderError"


def test_the_sdk_object_is_read_into_reply_error() -> None:
    """What the SDK returned for each shape, read by the adapter."""
    for body, expected in [
        (_bare(), ReportedError(None, "502", "Upstream error")),
        (_empty_choices(), ReportedError(None, "429", "Rate limited")),
        (_finished_with_error(), ReportedError("server_error", "server_error", "Model failed")),
    ]:
        client, _ = openai_client([body])
        reply = adapt(client.chat.completions.create(model="m", messages=[]))
        assert reply is not None
        assert reply.error == expected


def test_a_code_that_is_not_transient_raises_provider_error_at_once() -> None:
    client, sent = openai_client([_bare(400, "Invalid model"), chat_completion(GOOD)])
    with pytest.raises(lg.ProviderError) as raised:
        _guarded(client, retries=2)(list(USER))
    assert (raised.value.code, raised.value.message) == ("400", "Invalid model")
    assert [a.outcome for a in raised.value.attempts] == ["error"]
    assert len(sent) == 1


def test_provider_error_when_transient_retries_run_out_async() -> None:
    client, sent = async_openai_client([_bare(), _bare(), _bare()])

    @lg.guard(schema=Ticket, transient_retries=2, sleep=_no_wait)
    async def triage(messages: list[dict[str, Any]]) -> Any:
        return await client.chat.completions.create(model="openrouter/x", messages=messages)

    with pytest.raises(lg.ProviderError) as raised:
        asyncio.run(triage(list(USER)))
    assert raised.value.code == "502"
    assert [a.outcome for a in raised.value.attempts] == ["transient_error"] * 3
    assert len(sent) == 3


def test_an_answer_that_finished_normally_is_an_answer_whatever_else_the_body_says() -> None:
    """A stray ``error`` beside a choice that finished with ``stop`` is not read."""
    body = {**chat_completion(GOOD), "error": {"code": 500, "message": "ignored"}}
    client, sent = openai_client([body])
    assert _guarded(client, retries=0)(list(USER)) == Ticket(category="bug", urgency=2)
    assert len(sent) == 1


def test_guard_stream_of_a_whole_response_with_an_error_body() -> None:
    """A function that returns the whole response to guard.stream: the same judgement."""
    client, sent = openai_client([_bare(), chat_completion(GOOD)])

    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="openrouter/x", messages=messages)

    partials = list(lg.guard(schema=Ticket, retries=0, sleep=_no_wait).stream(triage, USER))
    assert partials[-1].value == Ticket(category="bug", urgency=2)
    assert sent[1].json == sent[0].json


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=40, deadline=None)
@given(error=_JSONISH.filter(bool))
def test_whatever_the_error_holds_it_is_a_failure_never_an_answer(error: Any) -> None:
    """Garbage in the error (a string, a list, a code of any type): read without raising,
    never validated as the answer nor re-asked with a correction. (An empty or false
    ``error`` is no error.)"""
    client, sent = openai_client([{"error": error}, {"error": error}])
    result = _guarded(client, retries=1, transient_retries=1, on_fail="return")(list(USER))
    assert isinstance(result, lg.Failure)
    assert isinstance(result.error, lg.ProviderError)
    assert all(request.json == sent[0].json for request in sent)


def test_without_a_schema_the_response_is_returned_and_recorded_as_the_failure() -> None:
    """As a stream without schema is: the response comes back as it came, and the
    records say the provider failed inside it (they said ``ok``), Chat Completions and
    a failed Responses API response alike."""
    # Not transient (a 400): a transient failure is retried (test_s11_guard_unschemed_transient).
    refused = _bare(400, "Invalid model")
    client, sent = openai_client([refused, responses_response([], status="failed")])

    @lg.guard(sleep=_no_wait)
    def chat(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="openrouter/x", messages=messages)

    @lg.guard(sleep=_no_wait)
    def respond(text: str) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=text)

    with lg.testing.capture() as records:
        response = chat(list(USER))
        failed = respond("It crashes")
    assert response.error == refused["error"]  # type: ignore[attr-defined]
    assert failed.status == "failed"
    assert len(sent) == 2
    attempts = [r for r in records if r.kind == "attempt"]
    assert [r.attempt["outcome"] for r in attempts if r.attempt] == ["error", "error"]
    assert {r.error_type for r in attempts} == {"llmguard.exceptions.ProviderError"}
    assert [r.status for r in attempts] == ["error", "error"]
    calls = [r for r in records if r.kind == "llm"]
    assert [r.attempt["outcome"] for r in calls if r.attempt] == ["error", "error"]
    assert [r.status for r in calls] == ["error", "error"]
