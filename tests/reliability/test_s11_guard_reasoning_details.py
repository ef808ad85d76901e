"""OpenRouter returns a reasoning model's reasoning in ``reasoning_details`` on the
assistant message (``reasoning.text`` with its signature for Claude, ``reasoning.encrypted``
for Gemini and OpenAI models, ``reasoning.summary``), and asks for it back, unchanged,
on the assistant turn of a tool call: Claude under extended thinking refuses a tool
result whose turn lost its thinking, Gemini a call without its thought signature. A
tool re-ask dropped it, as it once dropped DeepSeek's ``reasoning_content``. It is read
from whole responses and put back together from streamed deltas (consecutive text
pieces of one detail joined, its signature kept), and sent back where it stood."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard.adapters import adapt
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import chat_chunks, chat_completion, openai_client, tool_call

GOOD = '{"category": "bug", "urgency": 2}'
BAD = '{"category": "bug", "urgency": 9}'
USER = [{"role": "user", "content": "It crashes"}]
DETAILS = [
    {
        "type": "reasoning.text",
        "text": "A crash: a bug, urgency two.",
        "signature": "sig-abc",
        "format": "anthropic-claude-v1",
        "index": 0,
    },
    {
        "type": "reasoning.encrypted",
        "data": "ZW5jcnlwdGVk",
        "id": "rs_1",
        "format": "openai-responses-v1",
        "index": 1,
    },
]


def _calling(details: Any, text: str | None = None) -> dict[str, Any]:
    body = chat_completion(
        text, tool_calls=[tool_call(0, "Ticket", BAD)], finish_reason="tool_calls"
    )
    body["choices"][0]["message"]["reasoning_details"] = details
    return body


def _triage(client: Any, stream: bool = False) -> Any:
    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(
            model="anthropic/claude-sonnet-4.5", messages=messages, stream=stream
        )

    return triage


def test_a_tool_reask_sends_the_reasoning_details_back_unchanged() -> None:
    client, sent = openai_client([_calling(DETAILS), chat_completion(GOOD)])
    assert _triage(client)(list(USER)) == Ticket(category="bug", urgency=2)
    turn = sent[1].json["messages"][1]
    assert turn["role"] == "assistant"
    assert turn["reasoning_details"] == DETAILS
    assert turn["tool_calls"][0]["function"]["arguments"] == BAD


def test_the_details_of_several_calls_go_back_once_on_their_turn() -> None:
    body = _calling(DETAILS)
    body["choices"][0]["message"]["tool_calls"].append(tool_call(1, "Ticket", BAD))
    client, sent = openai_client([body, chat_completion(f"[{GOOD}]")])

    @lg.guard(schema=list[Ticket], retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="openrouter/x", messages=messages)

    assert triage(list(USER)) == [Ticket(category="bug", urgency=2)]
    turns = sent[1].json["messages"]
    assert turns[1]["reasoning_details"] == DETAILS
    assert [t["role"] for t in turns[2:]] == ["tool", "tool"]
    assert all("reasoning_details" not in t for t in turns[2:])


def test_streamed_details_are_put_back_together() -> None:
    """Text in three deltas (the signature in the last, with no text and no index),
    then an encrypted detail whole: two details, as the whole response holds them."""
    head = chat_chunks([])[0]

    def delta(**fields: Any) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": fields, "finish_reason": None}]}

    text = DETAILS[0]
    pieces = [
        {"type": "reasoning.text", "text": "A crash: ", "format": text["format"], "index": 0},
        {"type": "reasoning.text", "text": "a bug, urgency two.", "index": 0},
        {"type": "reasoning.text", "text": "", "signature": "sig-abc"},  # no index
    ]
    call = {"index": 0, "id": "call_0", "type": "function"}
    call["function"] = {"name": "Ticket", "arguments": BAD}
    chunks = [
        *(delta(reasoning_details=[piece]) for piece in pieces),
        delta(reasoning_details=[DETAILS[1]]),
        delta(tool_calls=[call]),
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    client, sent = openai_client([chunks, chat_chunks([GOOD])])
    assert _triage(client, stream=True)(list(USER)) == Ticket(category="bug", urgency=2)
    assert sent[1].json["messages"][1]["reasoning_details"] == DETAILS


def test_two_text_details_with_their_own_indexes_stay_two() -> None:
    """Two thinking blocks, each signed: joining them would break both signatures."""
    head = chat_chunks([])[0]
    first = {"type": "reasoning.text", "text": "one", "signature": "s1", "index": 0}
    second = {"type": "reasoning.text", "text": "two", "signature": "s2", "index": 1}
    call = {"index": 0, "id": "call_0", "type": "function"}
    call["function"] = {"name": "Ticket", "arguments": BAD}
    chunks = [
        {**head, "choices": [{"index": 0, "delta": {"reasoning_details": [first, second]}}]},
        {**head, "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]},
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    client, sent = openai_client([chunks, chat_chunks([GOOD])])
    assert _triage(client, stream=True)(list(USER)) == Ticket(category="bug", urgency=2)
    assert sent[1].json["messages"][1]["reasoning_details"] == [first, second]


def test_without_details_none_are_sent() -> None:
    """OpenAI refuses fields it does not know: a turn without details has none."""
    body = chat_completion(None, tool_calls=[tool_call(0, "Ticket", BAD)])
    client, sent = openai_client([body, chat_completion(GOOD)])
    assert _triage(client)(list(USER)) == Ticket(category="bug", urgency=2)
    assert "reasoning_details" not in sent[1].json["messages"][1]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)


@settings(max_examples=40, deadline=None)
@given(details=_JSON)
def test_whatever_the_details_hold_the_reply_is_read_and_the_reask_is_json(details: Any) -> None:
    """Garbage where the details stand: the answer is still read (never lost to an
    adapter error), and the re-ask is sent; a list goes back as it came."""
    client, sent = openai_client([_calling(details), chat_completion(GOOD)])
    reply = adapt(
        openai_client([_calling(details)])[0].chat.completions.create(model="m", messages=[])
    )
    assert reply is not None
    assert reply.tool_calls[0].arguments == BAD
    assert _triage(client)(list(USER)) == Ticket(category="bug", urgency=2)
    turn = sent[1].json["messages"][1]
    if isinstance(details, list) and details:
        assert turn["reasoning_details"] == json.loads(json.dumps(details))
    else:
        assert "reasoning_details" not in turn
