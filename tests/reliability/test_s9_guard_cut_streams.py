"""A Chat Completions stream that ends without a ``finish_reason``, or an Anthropic stream
that ends before its ``message_delta`` (the connection closed mid-answer, with no error
raised by the SDK), was cut: its answer reads as finish reason ``incomplete`` and is
re-asked, never closed by json-repair into a shorter value (``[Step(n=1), Step(n=2)]``
was returned from a four-item answer)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import llmguard as lg
from tests._helpers.sdk_mocks import anthropic_client, anthropic_events, chat_chunks, openai_client


class Step(BaseModel):
    n: int


FULL = json.dumps([{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}])
USER = [{"role": "user", "content": "Plan four steps"}]
_cuts = st.integers(min_value=9, max_value=len(FULL) - 1)


def _first_outcome(records: list[Any]) -> dict[str, Any]:
    first = next(r for r in records if r.kind == "attempt")
    assert first.finish_reason == "incomplete"
    assert first.attempt is not None
    return dict(first.attempt)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=_cuts)
def test_a_chat_stream_without_a_finish_reason_is_reasked(cut: int) -> None:
    chunks = [
        chunk
        for chunk in chat_chunks([FULL[:cut]], usage=None)
        if chunk["choices"] and chunk["choices"][0]["finish_reason"] is None
    ]
    client, sent = openai_client([chunks, chat_chunks([FULL])])

    @lg.guard(schema=list[Step], retries=1)
    def plan(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)

    with lg.testing.capture() as records:
        assert plan(list(USER)) == [Step(n=n) for n in (1, 2, 3, 4)]
    assert len(sent) == 2
    first = _first_outcome(records)
    assert first["outcome"] == "invalid"
    assert "repair" not in first


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=_cuts)
def test_an_anthropic_stream_without_its_message_delta_is_reasked(cut: int) -> None:
    ended = ("content_block_stop", "message_delta", "message_stop")
    events = [e for e in anthropic_events([FULL[:cut]]) if e["type"] not in ended]
    client, sent = anthropic_client([events, anthropic_events([FULL])])

    @lg.guard(schema=list[Step], retries=1)
    def plan(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5", max_tokens=200, messages=messages, stream=True
        )

    with lg.testing.capture() as records:
        assert plan(list(USER)) == [Step(n=n) for n in (1, 2, 3, 4)]
    assert len(sent) == 2
    first = _first_outcome(records)
    assert first["outcome"] == "invalid"
    assert "repair" not in first


def test_whole_streams_keep_their_finish_reason() -> None:
    """Streams that end as the APIs end them are not marked incomplete."""
    client, _ = openai_client([chat_chunks([FULL])])

    @lg.guard(schema=list[Step])
    def plan(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)

    with lg.testing.capture() as records:
        plan(list(USER))
    assert next(r for r in records if r.kind == "llm").finish_reason == "stop"
