"""A streamed Anthropic answer with extended thinking: its thinking blocks (with their
signatures) go back unchanged at the start of a tool re-ask's assistant turn, as a whole
message's do; without them Anthropic answers the re-ask with a 400."""

from __future__ import annotations

import asyncio
from typing import Any

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_events,
    anthropic_message,
    async_anthropic_client,
)

GOOD = '{"category": "bug", "urgency": 2}'
USER = [{"role": "user", "content": "It crashes"}]
THINKING = {"type": "thinking", "thinking": "The user wants a ticket.", "signature": "sig-1"}
REDACTED = {"type": "redacted_thinking", "data": "opaque-bytes"}
THINK = {"type": "enabled", "budget_tokens": 1024}


def _thinking_stream(tool_input: str) -> list[dict[str, Any]]:
    """SSE events as Anthropic streams them: a thinking block in deltas (its signature
    last), a redacted block whole, then a tool_use block whose input is ``tool_input``."""
    start = anthropic_message([], stop_reason=None, usage=(10, 1), model="claude-sonnet-4-5")
    thinking = {"type": "thinking", "thinking": "", "signature": ""}
    tool = {"type": "tool_use", "id": "toolu_1", "name": "Ticket", "input": {}}
    half = len(THINKING["thinking"]) // 2
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": thinking},
        {"type": "content_block_delta", "index": 0}
        | {"delta": {"type": "thinking_delta", "thinking": THINKING["thinking"][:half]}},
        {"type": "content_block_delta", "index": 0}
        | {"delta": {"type": "thinking_delta", "thinking": THINKING["thinking"][half:]}},
        {"type": "content_block_delta", "index": 0}
        | {"delta": {"type": "signature_delta", "signature": "sig-1"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": REDACTED},
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2, "content_block": tool},
        {"type": "content_block_delta", "index": 2}
        | {"delta": {"type": "input_json_delta", "partial_json": tool_input}},
        {"type": "content_block_stop", "index": 2},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None}}
        | {"usage": {"output_tokens": 30}},
        {"type": "message_stop"},
    ]
    return events


def _check_reask(body: Any) -> None:
    assistant = body["messages"][1]
    assert assistant["role"] == "assistant"
    assert assistant["content"][:2] == [THINKING, REDACTED]
    assert assistant["content"][2]["type"] == "tool_use"
    assert assistant["content"][2]["id"] == "toolu_1"
    [result] = body["messages"][2]["content"]
    assert result["tool_use_id"] == "toolu_1"


def test_a_streamed_tool_reask_with_extended_thinking_sends_the_thinking_back() -> None:
    """The streamed answer's thinking and redacted thinking start the re-ask's turn."""
    bad = _thinking_stream('{"category": "bug", "urgency": 9}')
    client, sent = anthropic_client([bad, anthropic_events([GOOD])])

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(
            model="claude-sonnet-4-5", max_tokens=2000, thinking=THINK, messages=messages,
            stream=True,
        )  # fmt: skip

    assert triage(list(USER)) == Ticket(category="bug", urgency=2)
    assert sent[0].json["stream"] is True
    _check_reask(sent[1].json)


def test_an_async_streamed_tool_reask_with_extended_thinking_sends_the_thinking_back() -> None:
    bad = _thinking_stream('{"category": "bug", "urgency": 9}')
    client, sent = async_anthropic_client([bad, anthropic_events([GOOD])])

    @lg.guard(schema=Ticket, retries=1)
    async def triage(messages: list[dict[str, Any]]) -> Any:
        return await client.messages.create(
            model="claude-sonnet-4-5", max_tokens=2000, thinking=THINK, messages=messages,
            stream=True,
        )  # fmt: skip

    assert asyncio.run(triage(list(USER))) == Ticket(category="bug", urgency=2)
    _check_reask(sent[1].json)


def test_guard_stream_reask_with_extended_thinking_sends_the_thinking_back() -> None:
    """``guard.stream`` drains through the same reader, so its re-ask does too."""
    bad = _thinking_stream('{"category": "bug", "urgency": 9}')
    client, sent = anthropic_client([bad, anthropic_events([GOOD])])

    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(
            model="claude-sonnet-4-5", max_tokens=2000, thinking=THINK, messages=messages,
            stream=True,
        )  # fmt: skip

    partials = list(lg.guard(schema=Ticket, retries=1).stream(triage, list(USER)))
    assert partials[-1].value == Ticket(category="bug", urgency=2)
    _check_reask(sent[1].json)


def test_the_streamed_reply_keeps_the_thinking_blocks() -> None:
    """The accumulator's reply carries the blocks as a whole message's reply does."""
    accumulator = lg.adapters.accumulator_for(_thinking_stream("{}")[0])
    assert accumulator is not None
    for event in _thinking_stream("{}"):
        accumulator.feed(event)
    assert accumulator.reply().thinking == (THINKING, REDACTED)
    whole = anthropic_message([THINKING, REDACTED, {"type": "text", "text": "x"}])
    reply = lg.adapters.adapt(whole)
    assert reply is not None
    assert reply.thinking == (THINKING, REDACTED)
