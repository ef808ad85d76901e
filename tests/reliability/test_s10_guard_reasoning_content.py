"""DeepSeek's thinking mode (and other OpenAI-compatible servers) return the model's
reasoning beside its answer, in ``reasoning_content``; an assistant turn with tool calls
sent back without it is refused with a 400 ("The reasoning_content in the thinking mode
must be passed back to the API"). A tool re-ask dropped it, so the re-ask failed and the
model never got its correction. It is read from whole responses and joined from
streamed deltas, and sent back on the re-ask's assistant turn."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import chat_chunks, chat_completion, openai_client, tool_call

GOOD = '{"category": "bug", "urgency": 2}'
BAD = '{"category": "bug", "urgency": 9}'
USER = [{"role": "user", "content": "It crashes"}]
THOUGHT = "The user reports a crash: a bug. Urgency two, it is not blocking."


def _with_reasoning(reasoning: str) -> dict[str, Any]:
    body = chat_completion(
        None, tool_calls=[tool_call(0, "Ticket", BAD)], finish_reason="tool_calls"
    )
    body["choices"][0]["message"]["reasoning_content"] = reasoning
    return body


def _triage(client: Any, stream: bool = False) -> Any:
    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(
            model="deepseek-v4-pro", messages=messages, stream=stream
        )

    return triage


def test_a_tool_reask_sends_the_reasoning_content_back() -> None:
    client, sent = openai_client([_with_reasoning(THOUGHT), chat_completion(GOOD)])
    assert _triage(client)(list(USER)) == Ticket(category="bug", urgency=2)
    turn = sent[1].json["messages"][1]
    assert turn["reasoning_content"] == THOUGHT
    assert turn["tool_calls"][0]["function"]["arguments"] == BAD


def test_a_streamed_tool_reask_sends_the_joined_reasoning_content_back() -> None:
    chunks = chat_chunks([])
    head = chunks[0]
    pieces = [THOUGHT[:20], THOUGHT[20:]]
    thinking = [
        {**head, "choices": [{"index": 0, "delta": {"reasoning_content": piece}}]}
        for piece in pieces
    ]
    call = {"index": 0, "id": "call_0", "type": "function"}
    call["function"] = {"name": "Ticket", "arguments": BAD}
    calling = {**head, "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]}
    done = {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}
    client, sent = openai_client([[*thinking, calling, done], chat_chunks([GOOD])])
    assert _triage(client, stream=True)(list(USER)) == Ticket(category="bug", urgency=2)
    assert sent[1].json["messages"][1]["reasoning_content"] == THOUGHT


def test_without_reasoning_content_none_is_sent() -> None:
    """OpenAI's own answers have none, and OpenAI refuses fields it does not know."""
    body = chat_completion(None, tool_calls=[tool_call(0, "Ticket", BAD)])
    client, sent = openai_client([body, chat_completion(GOOD)])
    assert _triage(client)(list(USER)) == Ticket(category="bug", urgency=2)
    assert "reasoning_content" not in sent[1].json["messages"][1]


@settings(max_examples=25, deadline=None)
@given(reasoning=st.text(max_size=200))
def test_any_reasoning_content_goes_back_as_it_came(reasoning: str) -> None:
    client, sent = openai_client([_with_reasoning(reasoning), chat_completion(GOOD)])
    assert _triage(client)(list(USER)) == Ticket(category="bug", urgency=2)
    assert sent[1].json["messages"][1]["reasoning_content"] == reasoning
