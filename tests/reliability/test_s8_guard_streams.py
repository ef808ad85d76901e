"""A hostile stream against the guard: a provider's stream that dies after it has begun
answering was billed, so the budgets must be charged for it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_events,
    anthropic_message,
    chat_chunks,
    chat_completion,
    http,
    openai_client,
)

GOOD = '{"category": "bug", "urgency": 2}'
USER = [{"role": "user", "content": "The app crashes"}]
CAP = 200  # the output cap, so each attempt reserves its input plus 200 tokens


class _Cut(http.SyncByteStream):
    """Server-sent events that stop with a read error after the first ``events``."""

    def __init__(self, events: list[dict[str, Any]], named: bool) -> None:
        self.events = events
        self.named = named

    def __iter__(self) -> Iterator[bytes]:
        for event in self.events:
            name = f"event: {event['type']}\n" if self.named else ""
            yield f"{name}data: {json.dumps(event)}\n\n".encode()
        raise http.ReadError("the connection was reset mid-answer")


def _cut(events: list[dict[str, Any]], named: bool) -> Any:
    def answer(request: http.Request) -> http.Response:
        headers = {"content-type": "text/event-stream"}
        return http.Response(200, headers=headers, stream=_Cut(events, named))

    return answer


def _openai_cut() -> tuple[Any, Any]:
    chunks = chat_chunks(['{"category": "bug", ', '"urg'])[:3]  # the role and two pieces
    return _cut(chunks, named=False), chat_completion(GOOD, usage=(10, 5))


def _anthropic_cut() -> tuple[Any, Any]:
    events = anthropic_events(['{"category": "bug", ', '"urg'], usage=(10, 5))[:5]
    return _cut(events, named=True), anthropic_message(GOOD, usage=(10, 5))


def _guarded(provider: str, answers: list[Any], **options: Any) -> Any:
    """A guarded function whose first call streams (and is cut) and whose re-try does not."""
    made: list[int] = []
    openai, _ = openai_client(answers)
    anthropic, _ = anthropic_client(answers)

    @lg.guard(max_output_tokens=CAP, **options)
    def ask(messages: list[dict[str, Any]], max_tokens: int | None = None) -> Any:
        made.append(1)
        stream = len(made) == 1
        if provider == "openai":
            return openai.chat.completions.create(
                model="gpt-4o-mini", messages=messages, max_tokens=max_tokens, stream=stream
            )
        return anthropic.messages.create(
            model="claude-haiku-4-5",
            messages=messages,
            max_tokens=max_tokens or 1024,
            stream=stream,
        )

    return ask


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_stream_cut_mid_answer_under_a_schema_is_charged_to_the_budget(provider: str) -> None:
    cut, good = _openai_cut() if provider == "openai" else _anthropic_cut()
    answers = [cut, good]
    guarded = _guarded(provider, answers, schema=Ticket)
    with lg.budget(max_tokens=100_000) as budget, lg.testing.capture() as records:
        assert guarded(list(USER)) == Ticket(category="bug", urgency=2)
    attempts = [r for r in records if r.kind == "attempt"]
    assert [a.attempt["outcome"] for a in attempts if a.attempt] == ["transient_error", "ok"]
    assert budget.reserved == 0
    # The second attempt reported 15 tokens; the first, cut mid-answer, never reported
    # its whole usage, so it is charged what it held: its input and the output cap.
    assert budget.used >= 15 + CAP


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_stream_handed_back_and_cut_mid_answer_is_charged_what_it_held(provider: str) -> None:
    cut, _ = _openai_cut() if provider == "openai" else _anthropic_cut()
    guarded = _guarded(provider, [cut])
    with lg.budget(max_tokens=100_000) as budget, lg.testing.capture() as records:
        stream = guarded(list(USER))
        with pytest.raises((openai.APIConnectionError, anthropic.APIConnectionError)):
            for _ in stream:
                pass
    (llm,) = [r for r in records if r.kind == "llm"]
    assert llm.status == "error"
    assert budget.reserved == 0
    # Anthropic's first event reports the input and one output token; the stream was
    # cut before the final count, so that count is no measure of what was billed.
    assert budget.used >= CAP


# -- a tool input nested deeper than any parser reads ---------------------------------------

DEEP = '{"category": ' + "[" * 100_000  # Anthropic streams tool input as JSON text


def _deep_tool_stream() -> list[dict[str, Any]]:
    return anthropic_events([], tool=("toolu_1", "Ticket", [DEEP]), stop_reason="tool_use")


def _anthropic_call(answers: list[Any]) -> Any:
    client, _ = anthropic_client(answers)

    def ask(messages: Any) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5", max_tokens=100, messages=messages, stream=True
        )

    return ask


def test_a_streamed_tool_input_nested_too_deep_is_reasked_not_raised() -> None:
    ask = _anthropic_call([_deep_tool_stream(), anthropic_events([GOOD])])
    with lg.testing.capture() as records:
        assert lg.guard(ask, schema=Ticket, retries=1)(list(USER)) == Ticket(
            category="bug", urgency=2
        )
    outcomes = [r.attempt["outcome"] for r in records if r.kind == "attempt" and r.attempt]
    assert outcomes == ["invalid", "ok"]


def test_a_streamed_tool_input_nested_too_deep_passes_through_and_is_recorded() -> None:
    ask = _anthropic_call([_deep_tool_stream()])
    with lg.testing.capture() as records:
        chunks = list(lg.guard(ask)(list(USER)))
    assert len(chunks) == len(_deep_tool_stream()) - 1  # every event but the ping
    (llm,) = [r for r in records if r.kind == "llm"]
    assert llm.status == "ok"
    assert llm.stream is not None
    assert llm.stream.end == "exhausted"


def test_partials_of_a_tool_input_nested_too_deep_end_in_the_schema_violation() -> None:
    ask = _anthropic_call([_deep_tool_stream()])
    with pytest.raises(lg.SchemaViolation):
        list(lg.guard(schema=Ticket, retries=0).stream(ask, list(USER)))
