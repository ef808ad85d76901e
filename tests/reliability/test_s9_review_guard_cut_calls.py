"""A list answered in tool calls, on a stream cut before the model finished (no finish
reason, no ``message_delta``, no final Responses event: the connection closed with no SDK
error), is re-asked: the calls that arrived whole are no shorter list accepted as the
answer. Real SDKs over server-sent events."""

from __future__ import annotations

from typing import Any

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_events,
    anthropic_message,
    openai_client,
    responses_events,
)

ITEM = '{"category": "bug", "urgency": 2}'
ASK = [{"role": "user", "content": "Triage these three tickets"}]
HEAD = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o"}


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {**HEAD, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _chat_call(index: int) -> dict[str, Any]:
    call = {"index": index, "id": f"call_{index}", "type": "function"}
    return _chunk({"tool_calls": [call | {"function": {"name": "Ticket", "arguments": ITEM}}]})


def _chat(calls: int, finish: str | None) -> list[Any]:
    chunks = [_chunk({"role": "assistant", "content": None})]
    chunks += [_chat_call(index) for index in range(calls)]
    return chunks if finish is None else [*chunks, _chunk({}, finish)]


def test_a_cut_chat_stream_of_calls_is_reasked() -> None:
    """Two whole calls, then the stream ends without a finish reason: re-asked, every
    call answered, and the full answer's three items kept."""
    client, sent = openai_client([_chat(2, None), _chat(3, "tool_calls")])

    @lg.guard(schema=list[Ticket], retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="gpt-4o", messages=messages, stream=True)

    assert triage(ASK) == [Ticket(category="bug", urgency=2)] * 3
    assert len(sent) == 2
    turns = sent[1].json["messages"][len(ASK) :]
    assert [call["id"] for call in turns[0]["tool_calls"]] == ["call_0", "call_1"]
    assert [turn["tool_call_id"] for turn in turns[1:]] == ["call_0", "call_1"]
    assert "stopped before it was finished" in turns[1]["content"]


def test_a_whole_chat_stream_of_calls_is_not_reasked() -> None:
    """The same two calls with their finish reason are the answer, at once."""
    client, sent = openai_client([_chat(2, "tool_calls")])

    @lg.guard(schema=list[Ticket], retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="gpt-4o", messages=messages, stream=True)

    assert triage(ASK) == [Ticket(category="bug", urgency=2)] * 2
    assert len(sent) == 1


def _anthropic_cut() -> list[dict[str, Any]]:
    """Two whole tool_use blocks, then the stream ends before its message_delta."""
    start = anthropic_message([], stop_reason=None)
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index in range(2):
        block = {"type": "tool_use", "id": f"toolu_{index}", "name": "Ticket", "input": {}}
        delta = {"type": "input_json_delta", "partial_json": ITEM}
        events += [
            {"type": "content_block_start", "index": index, "content_block": block},
            {"type": "content_block_delta", "index": index, "delta": delta},
            {"type": "content_block_stop", "index": index},
        ]
    return events


def test_a_cut_anthropic_stream_of_calls_is_reasked() -> None:
    """Anthropic: the re-ask answers both tool_use blocks with a tool_result each."""
    whole = anthropic_events([], tool=("toolu_9", "Ticket", [ITEM]), stop_reason="tool_use")
    client, sent = anthropic_client([_anthropic_cut(), whole])

    @lg.guard(schema=list[Ticket], retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5", max_tokens=200, messages=messages, stream=True
        )

    assert triage(ASK) == [Ticket(category="bug", urgency=2)]
    assert len(sent) == 2
    results = sent[1].json["messages"][-1]["content"]
    assert [result["tool_use_id"] for result in results] == ["toolu_0", "toolu_1"]
    assert "stopped before it was finished" in results[0]["content"]


def test_a_responses_stream_of_calls_without_its_final_event_is_reasked() -> None:
    """Responses API: a call done, then no response.completed: re-asked."""
    cut = responses_events([ITEM], function="Ticket")[:-1]
    client, sent = openai_client([cut, responses_events([f"[{ITEM}]"], function="Ticket")])

    @lg.guard(schema=list[Ticket], retries=1)
    def triage(input: list[dict[str, Any]]) -> Any:
        return client.responses.create(model="gpt-4o", input=input, stream=True)

    assert triage(ASK) == [Ticket(category="bug", urgency=2)]
    assert len(sent) == 2
