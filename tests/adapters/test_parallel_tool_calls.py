"""Every tool call of a response reaches the `Reply`, in order, whatever the provider.

The guard reads several calls as the items of a list schema, so no adapter may keep
only the first; the SDKs' own objects come from real ``openai`` and ``anthropic`` clients.
"""

from __future__ import annotations

import json
from typing import Any

from llmguard.adapters import ToolCall, adapt
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_message,
    chat_completion,
    openai_client,
    responses_response,
)

ARGUMENTS = [{"city": "Oslo"}, {"query": "boots"}, {"city": "Rome"}]
NAMES = ["Weather", "Search", "Weather"]


def chat_body() -> dict[str, Any]:
    calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
        for i, (n, a) in enumerate(zip(NAMES, ARGUMENTS, strict=True))
    ]
    return chat_completion(None, tool_calls=calls, finish_reason="tool_calls")


def anthropic_body() -> dict[str, Any]:
    blocks = [
        {"type": "tool_use", "id": f"toolu_{i}", "name": n, "input": a}
        for i, (n, a) in enumerate(zip(NAMES, ARGUMENTS, strict=True))
    ]
    return anthropic_message(blocks, stop_reason="tool_use")


def responses_body() -> dict[str, Any]:
    items = [
        {
            "type": "function_call",
            "id": f"fc_{i}",
            "call_id": f"call_{i}",
            "name": n,
            "arguments": json.dumps(a),
            "status": "completed",
        }
        for i, (n, a) in enumerate(zip(NAMES, ARGUMENTS, strict=True))
    ]
    return responses_response(items)


def test_chat_completions_keep_every_call_in_order() -> None:
    """A ChatCompletion object and its dict both give the three calls."""
    client, _ = openai_client([chat_body()])
    response = client.chat.completions.create(model="gpt-4o-mini", messages=[])
    expected = tuple(
        ToolCall(f"call_{i}", n, json.dumps(a))
        for i, (n, a) in enumerate(zip(NAMES, ARGUMENTS, strict=True))
    )
    assert adapt(response).tool_calls == expected
    assert adapt(chat_body()).tool_calls == expected


def test_anthropic_keeps_every_tool_use_block_in_order() -> None:
    """A Message object gives each tool_use block, its input as a dict."""
    client, _ = anthropic_client([anthropic_body()])
    message = client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=[])
    reply = adapt(message)
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [
        (f"toolu_{i}", n, a) for i, (n, a) in enumerate(zip(NAMES, ARGUMENTS, strict=True))
    ]
    assert reply.finish_reason == "tool_calls"


def test_responses_api_keeps_every_function_call_in_order() -> None:
    """Responses API function_call items, each with its call_id."""
    client, _ = openai_client([responses_body()])
    response = client.responses.create(model="gpt-4o-mini", input="plan")
    reply = adapt(response)
    assert [c.id for c in reply.tool_calls] == ["call_0", "call_1", "call_2"]
    assert [json.loads(str(c.arguments)) for c in reply.tool_calls] == ARGUMENTS
