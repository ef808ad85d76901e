"""An Anthropic tool re-ask sends the model's turn back as it came: thinking (with its
signature), redacted thinking, the text it said and its tool_use blocks, in their order,
whether the answer was streamed or not. The text between the thinking and a call was
dropped, so the turn resent was not the model's."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_events,
    anthropic_message,
    async_anthropic_client,
)

GOOD = '{"category": "bug", "urgency": 2}'
BAD = {"category": "bug", "urgency": 9}
USER = [{"role": "user", "content": "It crashes"}]
THINKING = {"type": "thinking", "thinking": "The user wants a ticket.", "signature": "sig-1"}
REDACTED = {"type": "redacted_thinking", "data": "opaque-bytes"}
SAID = {"type": "text", "text": "I will file it as a bug."}
THINK = {"type": "enabled", "budget_tokens": 1024}


def _use(number: int) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_{number}", "name": "Ticket", "input": BAD}


def _events(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """SSE events of a message holding ``blocks``, each streamed as Anthropic does."""
    start = anthropic_message([], stop_reason=None, usage=(10, 1), model="claude-sonnet-4-5")
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(blocks):
        kind = block["type"]
        deltas: list[dict[str, Any]] = []
        if kind == "thinking":
            opened = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": block["thinking"]},
                {"type": "signature_delta", "signature": block["signature"]},
            ]
        elif kind == "text":
            opened = {"type": "text", "text": ""}
            text = block["text"]
            deltas = [
                {"type": "text_delta", "text": text[:3]},
                {"type": "text_delta", "text": text[3:]},
            ]
        elif kind == "tool_use":
            opened = {**block, "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": '{"category": "bug", '}]
            deltas.append({"type": "input_json_delta", "partial_json": '"urgency": 9}'})
        else:
            opened = block
        events.append({"type": "content_block_start", "index": index, "content_block": opened})
        events += [
            {"type": "content_block_delta", "index": index, "delta": delta} for delta in deltas
        ]
        events.append({"type": "content_block_stop", "index": index})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 30},
        }
    )
    events.append({"type": "message_stop"})
    return events


def _resent(body: Any) -> list[dict[str, Any]]:
    """The assistant turn a re-ask sent, each tool_use block reduced to its id."""
    assistant = body["messages"][1]
    assert assistant["role"] == "assistant"
    return [
        {"type": "tool_use", "id": block["id"]} if block["type"] == "tool_use" else block
        for block in assistant["content"]
    ]


def _expected(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"type": "tool_use", "id": block["id"]} if block["type"] == "tool_use" else block
        for block in blocks
        if block["type"] != "text" or block["text"].strip()
    ]


def _triage(client: Any, stream: bool) -> Any:
    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(
            model="claude-sonnet-4-5", max_tokens=2000, thinking=THINK, messages=messages,
            stream=stream,
        )  # fmt: skip

    return triage


TURN = [THINKING, SAID, _use(1)]


def test_a_reask_keeps_the_text_between_thinking_and_the_call() -> None:
    """A whole message: thinking, text, tool_use go back in that order."""
    client, sent = anthropic_client(
        [anthropic_message(TURN, stop_reason="tool_use"), anthropic_message(GOOD)]
    )
    assert _triage(client, False)(list(USER)) == Ticket(category="bug", urgency=2)
    assert _resent(sent[1].json) == _expected(TURN)
    [result] = sent[1].json["messages"][2]["content"]
    assert result["tool_use_id"] == "toolu_1"


def test_a_streamed_reask_keeps_the_text_between_thinking_and_the_call() -> None:
    """The same turn streamed: its text joined from its deltas, in its place."""
    client, sent = anthropic_client([_events(TURN), anthropic_events([GOOD])])
    assert _triage(client, True)(list(USER)) == Ticket(category="bug", urgency=2)
    assert _resent(sent[1].json) == _expected(TURN)


def test_an_async_streamed_reask_keeps_the_text_between_thinking_and_the_call() -> None:
    client, sent = async_anthropic_client([_events(TURN), anthropic_events([GOOD])])

    @lg.guard(schema=Ticket, retries=1)
    async def triage(messages: list[dict[str, Any]]) -> Any:
        return await client.messages.create(
            model="claude-sonnet-4-5", max_tokens=2000, thinking=THINK, messages=messages,
            stream=True,
        )  # fmt: skip

    assert asyncio.run(triage(list(USER))) == Ticket(category="bug", urgency=2)
    assert _resent(sent[1].json) == _expected(TURN)


def test_guard_stream_reask_keeps_the_text_between_thinking_and_the_call() -> None:
    client, sent = anthropic_client([_events(TURN), anthropic_events([GOOD])])

    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(
            model="claude-sonnet-4-5", max_tokens=2000, thinking=THINK, messages=messages,
            stream=True,
        )  # fmt: skip

    partials = list(lg.guard(schema=Ticket, retries=1).stream(triage, list(USER)))
    assert partials[-1].value == Ticket(category="bug", urgency=2)
    assert _resent(sent[1].json) == _expected(TURN)


def test_a_blank_text_block_is_not_sent_back() -> None:
    """Anthropic refuses a whitespace-only text block: it is left out, the rest kept."""
    turn = [THINKING, {"type": "text", "text": "\n\n"}, _use(1)]
    client, sent = anthropic_client(
        [anthropic_message(turn, stop_reason="tool_use"), anthropic_message(GOOD)]
    )
    assert _triage(client, False)(list(USER)) == Ticket(category="bug", urgency=2)
    assert _resent(sent[1].json) == [THINKING, {"type": "tool_use", "id": "toolu_1"}]


_OTHER = st.sampled_from(
    [
        THINKING,
        REDACTED,
        SAID,
        {"type": "text", "text": "  "},
        {"type": "thinking", "thinking": "Then a second look.", "signature": "sig-2"},
        {"type": "text", "text": "Filing it now. 🐛"},
    ]
)


@st.composite
def _turns(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A turn of 1-3 tool calls with thinking and text blocks anywhere among them."""
    calls = draw(st.integers(1, 3))
    turn: list[dict[str, Any]] = []
    for number in range(1, calls + 1):
        turn += draw(st.lists(_OTHER, max_size=3))
        turn.append(_use(number))
    return turn + draw(st.lists(_OTHER, max_size=2))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(turn=_turns(), stream=st.booleans())
def test_any_turn_goes_back_in_its_order(turn: list[dict[str, Any]], stream: bool) -> None:
    """Whatever the order of thinking, text and calls, streamed or not, the re-ask's
    assistant turn is the model's, blank text left out."""
    if stream:
        answers = [_events(turn), anthropic_events([GOOD])]
    else:
        answers = [anthropic_message(turn, stop_reason="tool_use"), anthropic_message(GOOD)]
    client, sent = anthropic_client(answers)
    assert _triage(client, stream)(list(USER)) == Ticket(category="bug", urgency=2)
    assert _resent(sent[1].json) == _expected(turn)
