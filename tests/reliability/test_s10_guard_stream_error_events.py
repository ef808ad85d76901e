"""An error a provider reports inside a stream, after its 200 response (an SSE error
event: Anthropic's ``overloaded_error`` under load, OpenAI's ``server_error``), is as
transient as the same error given as a 529 or a 500 before the stream: it is retried
with backoff. The SDK's exception carries the stream's 200 status, so it was taken for
a final error and raised at the first overload."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_events,
    anthropic_message,
    async_anthropic_client,
    chat_chunks,
    openai_client,
)

GOOD = '{"category": "bug", "urgency": 2}'
USER = [{"role": "user", "content": "It crashes"}]


def _cut(kind: str) -> list[dict[str, Any]]:
    """A stream that starts answering, then reports an error of type ``kind``."""
    events = anthropic_events(['{"category": '])[:4]  # message_start, block start, ping, delta
    error = {"type": "error", "error": {"type": kind, "message": "Overloaded"}}
    return [*events, error]


@pytest.mark.parametrize("kind", ["overloaded_error", "api_error", "rate_limit_error"])
def test_an_anthropic_error_event_mid_stream_is_retried(kind: str) -> None:
    client, sent = anthropic_client([_cut(kind), anthropic_events([GOOD])])
    waits: list[float] = []

    @lg.guard(schema=Ticket, transient_retries=2, sleep=waits.append)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5", max_tokens=500, messages=messages, stream=True
        )

    with lg.testing.capture() as records:
        assert triage(list(USER)) == Ticket(category="bug", urgency=2)
    assert len(sent) == 2
    assert len(waits) == 1
    attempts = [r for r in records if r.kind == "attempt"]
    assert [a.status for a in attempts] == ["error", "ok"]


def test_an_async_anthropic_error_event_mid_stream_is_retried() -> None:
    client, sent = async_anthropic_client([_cut("overloaded_error"), anthropic_events([GOOD])])

    @lg.guard(schema=Ticket, transient_retries=1, sleep=lambda seconds: None)
    async def triage(messages: list[dict[str, Any]]) -> Any:
        return await client.messages.create(
            model="claude-haiku-4-5", max_tokens=500, messages=messages, stream=True
        )

    assert asyncio.run(triage(list(USER))) == Ticket(category="bug", urgency=2)
    assert len(sent) == 2


def test_an_openai_server_error_mid_stream_is_retried() -> None:
    cut = [*chat_chunks(['{"category": '])[:1], {"error": {"message": "boom"}}]
    cut[-1]["error"]["type"] = "server_error"
    client, sent = openai_client([cut, chat_chunks([GOOD])])

    @lg.guard(schema=Ticket, transient_retries=1, sleep=lambda seconds: None)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)

    assert triage(list(USER)) == Ticket(category="bug", urgency=2)
    assert len(sent) == 2


@pytest.mark.parametrize("kind", ["invalid_request_error", "authentication_error", "oops"])
def test_an_error_event_that_says_nothing_transient_is_raised(kind: str) -> None:
    """A request the provider refuses fails the same way again: raised, not retried."""
    client, sent = anthropic_client([_cut(kind), anthropic_message(GOOD)])

    @lg.guard(schema=Ticket, transient_retries=2, sleep=lambda seconds: None)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5", max_tokens=500, messages=messages, stream=True
        )

    with pytest.raises(Exception, match="Overloaded"):
        triage(list(USER))
    assert len(sent) == 1
