"""The output cap llmguard keeps on a passing stream (a function that cannot be given it)
counts every kind of answer text a stream carries: a custom tool's ``input`` in Chat
Completions deltas and the Responses API's ``custom_tool_call_input`` deltas were not
counted, so a stream of them ran past the cap."""

from __future__ import annotations

from typing import Any

import pytest

import llmguard as lg

WORDS = "one two three four five six seven eight nine ten eleven twelve " * 3


def _chat_custom_chunks() -> list[dict[str, Any]]:
    head = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
    start = {"index": 0, "id": "call_1", "type": "custom", "custom": {"name": "grep", "input": ""}}
    deltas = [start] + [
        {"index": 0, "custom": {"input": WORDS[i : i + 8]}} for i in range(0, len(WORDS), 8)
    ]
    return [
        {**head, "choices": [{"index": 0, "delta": {"tool_calls": [d]}, "finish_reason": None}]}
        for d in deltas
    ]


def _responses_custom_events() -> list[dict[str, Any]]:
    item = {"type": "custom_tool_call", "id": "ctc_1", "call_id": "call_1", "name": "grep"}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": {"id": "resp_1", "model": "gpt-4o-mini"}},
        {"type": "response.output_item.added", "output_index": 0, "item": {**item, "input": ""}},
    ]
    events += [
        {"type": "response.custom_tool_call_input.delta", "output_index": 0}
        | {"item_id": "ctc_1", "delta": WORDS[i : i + 8]}
        for i in range(0, len(WORDS), 8)
    ]
    return events


@pytest.mark.parametrize(
    "chunks", [_chat_custom_chunks(), _responses_custom_events()], ids=["chat", "responses"]
)
def test_custom_tool_input_counts_toward_the_output_cap(chunks: list[dict[str, Any]]) -> None:
    @lg.guard(max_output_tokens=10, on_output_overflow="raise")
    def ask(messages: Any) -> Any:
        return iter(chunks)

    received: list[Any] = []
    with pytest.raises(lg.TokenLimitExceeded) as raised:
        received.extend(ask([{"role": "user", "content": "grep"}]))
    assert raised.value.limit == "max_output_tokens"
    assert 0 < len(received) < len(chunks)
