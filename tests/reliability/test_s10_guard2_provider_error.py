"""A Responses API stream (or response) that the server failed after its 200 -- an
``error`` event, ``response.failed`` -- is the provider's failure, not the model's answer:
transient codes are retried unchanged, and ``lg.ProviderError`` is raised (or returned in
a `Failure`) when they run out or the code is not transient. Real OpenAI SDK over SSE."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import (
    async_openai_client,
    openai_client,
    responses_events,
    responses_response,
)

GOOD = '{"category": "bug", "urgency": 2}'


def _no_wait(seconds: float) -> None:
    return None


def _error_event(code: str | None = "server_error") -> list[dict[str, Any]]:
    """A stream that started an answer, then an ``error`` event instead of its end."""
    events = responses_events(['{"category": '])[:3]
    error = {"type": "error", "code": code, "message": "The server had an error"}
    return [*events, {**error, "param": None, "sequence_number": 3}]


def _failed_event(code: str = "server_error") -> list[dict[str, Any]]:
    """A stream whose last event is ``response.failed``, its response's error saying why."""
    events = responses_events(['{"category": '])
    response = {**events[-1]["response"], "status": "failed"}
    response["error"] = {"code": code, "message": "The model failed"}
    return [*events[:-1], {**events[-1], "type": "response.failed", "response": response}]


def test_a_server_error_event_is_retried_unchanged_and_recorded() -> None:
    """The re-sent request is byte-for-byte the first; the attempt record says
    transient_error with the ProviderError and its code; no correction is written."""
    client, sent = openai_client([_error_event(), responses_events([GOOD])])

    @lg.guard(schema=Ticket, retries=1, sleep=_no_wait)
    def triage(input: Any) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input, stream=True)

    with lg.testing.capture() as records:
        assert triage("It crashes") == Ticket(category="bug", urgency=2)
    assert [request.json for request in sent] == [sent[0].json, sent[0].json]
    attempts = [r for r in records if r.kind == "attempt"]
    assert [r.attempt["outcome"] for r in attempts if r.attempt] == ["transient_error", "ok"]
    assert attempts[0].error_type == "llmguard.exceptions.ProviderError"
    assert "server_error" in (attempts[0].error_message or "")
    (llm,) = [r for r in records if r.kind == "llm"]
    assert llm.attempt is not None
    assert (llm.attempt["transient_retries"], llm.attempt["corrective_retries"]) == (1, 0)


@pytest.mark.parametrize("stream", [_error_event, _failed_event], ids=["error", "failed"])
def test_provider_error_is_raised_when_transient_retries_run_out(stream: Any) -> None:
    """Every attempt failed on the server: ProviderError carries the code, the message,
    every attempt and their usage; nothing went into a prompt."""
    client, sent = openai_client([stream(), stream(), stream()])

    @lg.guard(schema=Ticket, retries=2, transient_retries=2, sleep=_no_wait)
    def triage(input: Any) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input, stream=True)

    with pytest.raises(lg.ProviderError) as raised:
        triage("It crashes")
    error = raised.value
    assert (error.type, error.code) == (None, "server_error")
    assert error.message in ("The server had an error", "The model failed")
    assert [a.outcome for a in error.attempts] == ["transient_error"] * 3
    assert all(isinstance(a.error, lg.ProviderError) for a in error.attempts)
    assert error.trace_id is not None
    assert len(sent) == 3
    assert all(request.json["input"] == "It crashes" for request in sent)
    if stream is _failed_event:  # the failed response reported its usage
        assert error.usage is not None
        assert error.usage.input == 30


def test_a_code_that_is_not_transient_is_raised_at_once() -> None:
    """A failure that asking again will not mend (invalid_prompt): one request, raised."""
    client, sent = openai_client([_failed_event("invalid_prompt")])

    @lg.guard(schema=Ticket, retries=2, sleep=_no_wait)
    def triage(input: Any) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input, stream=True)

    with lg.testing.capture() as records, pytest.raises(lg.ProviderError) as raised:
        triage("It crashes")
    assert raised.value.code == "invalid_prompt"
    assert [a.outcome for a in raised.value.attempts] == ["error"]
    assert len(sent) == 1
    (llm,) = [r for r in records if r.kind == "llm"]
    assert llm.status == "error"
    assert llm.error_type == "llmguard.exceptions.ProviderError"


def test_on_fail_return_gives_a_failure_holding_the_provider_error() -> None:
    """on_fail="return": the error comes back in a Failure, a code left out read as None."""
    client, _ = openai_client([_error_event(None)])

    @lg.guard(schema=Ticket, on_fail="return", sleep=_no_wait)
    def triage(input: Any) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input, stream=True)

    failure = triage("It crashes")
    assert isinstance(failure, lg.Failure)
    assert isinstance(failure.error, lg.ProviderError)
    assert (failure.error.code, failure.error.message) == (None, "The server had an error")
    assert "The server had an error" in str(failure.error)


def test_an_async_stream_is_retried_and_raised_the_same() -> None:
    """AsyncOpenAI: an error event then response.failed, both retried unchanged."""
    client, sent = async_openai_client([_error_event(), _failed_event(), responses_events([GOOD])])

    @lg.guard(schema=Ticket, transient_retries=2, sleep=_no_wait)
    async def triage(input: Any) -> Any:
        return await client.responses.create(model="gpt-4o-mini", input=input, stream=True)

    assert asyncio.run(triage("It crashes")) == Ticket(category="bug", urgency=2)
    assert len(sent) == 3
    assert sent[2].json == sent[0].json


def test_guard_stream_retries_a_failed_stream_and_resets_its_partials() -> None:
    """guard.stream: the failed attempt's partials are reset, the request sent again as it was."""
    client, sent = openai_client([_error_event(), responses_events([GOOD])])

    def triage(input: Any) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input, stream=True)

    partials = list(lg.guard(schema=Ticket, sleep=_no_wait).stream(triage, "It crashes"))
    assert partials[-1].final
    assert partials[-1].value == Ticket(category="bug", urgency=2)
    assert {p.attempt for p in partials} <= {1, 2}
    again = [p for p in partials if p.attempt == 2]
    if any(p.attempt == 1 for p in partials):
        assert again[0].reset
    assert partials[-1].attempt == 2
    assert sent[1].json == sent[0].json


def test_guard_stream_raises_the_provider_error() -> None:
    """guard.stream raises ProviderError after the partials it showed."""
    client, _ = openai_client([_failed_event("invalid_prompt")])

    def triage(input: Any) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input, stream=True)

    with pytest.raises(lg.ProviderError, match="invalid_prompt"):
        list(lg.guard(schema=Ticket, sleep=_no_wait).stream(triage, "It crashes"))


def test_a_whole_failed_response_is_the_providers_failure_too() -> None:
    """A response read whole (background mode, a gateway) with status ``failed``."""
    failed = responses_response([], status="failed")
    failed["error"] = {"code": "server_error", "message": "The server had an error"}
    client, sent = openai_client([failed, responses_events([GOOD])[-1]["response"]])

    @lg.guard(schema=Ticket, retries=0, sleep=_no_wait)
    def triage(input: Any) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input)

    with lg.testing.capture() as records:
        assert triage("It crashes") == Ticket(category="bug", urgency=2)
    outcomes = [r.attempt["outcome"] for r in records if r.kind == "attempt" and r.attempt]
    assert outcomes == ["transient_error", "ok"]
    assert sent[1].json == sent[0].json


def test_a_passing_stream_without_schema_records_the_failure() -> None:
    """No schema: the stream is the caller's, as it came; its record says it failed."""
    client, _ = openai_client([_error_event()])

    @lg.guard
    def triage(input: Any) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input, stream=True)

    with lg.testing.capture() as records:
        events = list(triage("It crashes"))
    assert events[-1].type == "error"
    (attempt,) = [r for r in records if r.kind == "attempt"]
    assert attempt.error_type == "llmguard.exceptions.ProviderError"
    assert attempt.status == "error"


def test_the_inline_form_retries_a_failed_stream_and_raises_the_provider_error() -> None:
    """guard.attempts(...): a server error event is retried unchanged, then raised."""
    client, sent = openai_client([_error_event(), responses_events([GOOD])])
    guard = lg.guard(schema=Ticket, retries=1, sleep=_no_wait)
    for attempt in guard.attempts([{"role": "user", "content": "It crashes"}]):
        with attempt:
            answer = client.responses.create(
                model="gpt-4o-mini", input=attempt.messages, stream=True
            )
            attempt.submit(answer)
    assert attempt.value == Ticket(category="bug", urgency=2)
    assert sent[1].json == sent[0].json

    client, _ = openai_client([_error_event()])
    once = lg.guard(schema=Ticket, retries=1, transient_retries=0, sleep=_no_wait)

    def loop() -> None:
        for attempt in once.attempts([{"role": "user", "content": "It crashes"}]):
            with attempt:
                answer = client.responses.create(
                    model="gpt-4o-mini", input=attempt.messages, stream=True
                )
                attempt.submit(answer)

    with pytest.raises(lg.ProviderError) as raised:
        loop()
    assert [a.outcome for a in raised.value.attempts] == ["transient_error"]


def test_a_fallback_answers_when_the_provider_keeps_failing() -> None:
    """Transient retries spent on the first function: the fallback is asked, unchanged."""
    client, sent = openai_client([_error_event(), _error_event(), responses_events([GOOD])])

    def small(input: Any) -> Any:
        return client.responses.create(model="gpt-4o", input=input, stream=True)

    @lg.guard(schema=Ticket, transient_retries=1, fallbacks=[small], sleep=_no_wait)
    def triage(input: Any) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input, stream=True)

    with lg.testing.capture() as records:
        assert triage("It crashes") == Ticket(category="bug", urgency=2)
    assert [request.json["model"] for request in sent] == ["gpt-4o-mini"] * 2 + ["gpt-4o"]
    assert sent[2].json["input"] == "It crashes"
    (llm,) = [r for r in records if r.kind == "llm"]
    assert llm.attempt is not None
    assert (llm.attempt["fallback"], llm.attempt["corrective_retries"]) == (1, 0)
