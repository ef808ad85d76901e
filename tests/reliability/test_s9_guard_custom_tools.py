"""OpenAI ``custom`` tool calls (free-form ``input``, not JSON ``arguments``) go back on a
re-ask as they came: the assistant turn echoes a ``type: "custom"`` call, answered by a
tool message for its id (the API refuses a ``function`` call naming a custom tool). The
Responses API's ``custom_tool_call`` gets a ``custom_tool_call_output``."""

from __future__ import annotations

from typing import Any

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import (
    chat_completion,
    openai_client,
    responses_response,
)

GOOD = '{"category": "bug", "urgency": 2}'
BAD = '{"category": "bug", "urgency": 9}'
USER = [{"role": "user", "content": "It crashes"}]


def _custom(call_id: str, name: str, text: str) -> dict[str, Any]:
    return {"id": call_id, "type": "custom", "custom": {"name": name, "input": text}}


def test_a_custom_tool_call_is_reasked_as_a_custom_call() -> None:
    bad = chat_completion(None, tool_calls=[_custom("call_1", "Ticket", BAD)])
    client, sent = openai_client([bad, chat_completion(GOOD)])

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert triage(list(USER)) == Ticket(category="bug", urgency=2)
    assistant, tool = sent[1].json["messages"][1:]
    assert assistant == {
        "role": "assistant", "content": None, "tool_calls": [_custom("call_1", "Ticket", BAD)]
    }  # fmt: skip
    assert tool["role"] == "tool"
    assert tool["tool_call_id"] == "call_1"
    assert "did not match the required schema" in tool["content"]


def test_custom_calls_among_several_keep_their_type() -> None:
    """A function call and a custom call: each is echoed with its own type."""
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": "{}"}},
        _custom("call_2", "Ticket", '{"category": "bug"}'),
    ]
    client, sent = openai_client([chat_completion(None, tool_calls=calls), chat_completion(GOOD)])

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert triage(list(USER)) == Ticket(category="bug", urgency=2)
    turns = sent[1].json["messages"][1:]
    assert turns[0]["tool_calls"] == calls
    assert [t["tool_call_id"] for t in turns[1:]] == ["call_1", "call_2"]
    assert "$.urgency: Field required" in turns[2]["content"]


def test_a_streamed_custom_tool_call_is_read_and_reasked_as_custom() -> None:
    head = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
    pieces = [BAD[:10], BAD[10:]]
    deltas = [
        {"index": 0, "id": "call_1", "type": "custom", "custom": {"name": "Ticket", "input": ""}},
        *({"index": 0, "custom": {"input": piece}} for piece in pieces),
    ]
    chunks = [
        {**head, "choices": [{"index": 0, "delta": {"tool_calls": [d]}, "finish_reason": None}]}
        for d in deltas
    ]
    chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    client, sent = openai_client([chunks, chat_completion(GOOD)])
    answers = iter([True, False])

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=next(answers)
        )

    assert triage(list(USER)) == Ticket(category="bug", urgency=2)
    assistant = sent[1].json["messages"][1]
    assert assistant["tool_calls"] == [_custom("call_1", "Ticket", BAD)]


def test_a_responses_custom_tool_call_gets_a_custom_tool_call_output() -> None:
    call = {"type": "custom_tool_call", "id": "ctc_1", "call_id": "call_1", "name": "Ticket"}
    call["input"] = BAD
    message = {"type": "message", "id": "m", "role": "assistant", "status": "completed"}
    message["content"] = [{"type": "output_text", "text": GOOD, "annotations": []}]
    client, sent = openai_client([responses_response([call]), responses_response([message])])

    @lg.guard(schema=Ticket, retries=1)
    def triage(input: str) -> Any:
        return client.responses.create(model="gpt-4o-mini", input=input)

    assert triage("It crashes") == Ticket(category="bug", urgency=2)
    echoed, output = sent[1].json["input"][1:]
    assert echoed == {"type": "custom_tool_call", "call_id": "call_1", "name": "Ticket"} | {
        "input": BAD
    }
    assert output["type"] == "custom_tool_call_output"
    assert output["call_id"] == "call_1"
    assert "did not match the required schema" in output["output"]
