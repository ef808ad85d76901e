"""What a re-ask puts on the wire must be something the API takes, or the re-ask itself
fails and the model never gets its correction:

* a thinking block without its signature (a gateway dropped it, a stream was cut) is
  refused by Anthropic with a 400: it is left out, whole message or stream alike;
* tool-call arguments that are not JSON, echoed as they came, are refused by the
  gateways that parse them into an Anthropic or Bedrock ``tool_use`` input (LiteLLM,
  OpenRouter): they go inside a JSON object, the correction quoting the text.

pydantic-ai has the same two rules (its tests on empty signatures and malformed args)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_message,
    chat_completion,
    openai_client,
    tool_call,
)

GOOD = '{"category": "bug", "urgency": 2}'
USER = [{"role": "user", "content": "It crashes"}]
SIGNED = {"type": "thinking", "thinking": "A bug.", "signature": "sig-1"}


def test_a_thinking_block_without_its_signature_is_not_sent_back() -> None:
    unsigned = {"type": "thinking", "thinking": "Half a thought", "signature": ""}
    use = {"type": "tool_use", "id": "toolu_1", "name": "Ticket"}
    use["input"] = {"category": "bug", "urgency": 9}
    bad = anthropic_message([unsigned, SIGNED, use], stop_reason="tool_use")
    client, sent = anthropic_client([bad, anthropic_message(GOOD)])

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(model="claude-sonnet-4-5", max_tokens=2000, messages=messages)

    assert triage(list(USER)) == Ticket(category="bug", urgency=2)
    turn = sent[1].json["messages"][1]["content"]
    assert [block["type"] for block in turn] == ["thinking", "tool_use"]
    assert turn[0] == SIGNED


BROKEN = '{"query": "crash", "ids": [4556]</parameter>\n<parameter name="limit": 8}'


@pytest.mark.parametrize("arguments", [BROKEN, '{"category": "bug", "urg', "not json"])
def test_arguments_that_are_not_json_are_echoed_inside_an_object(arguments: str) -> None:
    calls = [tool_call(0, "Ticket", arguments)]
    bad = chat_completion(None, tool_calls=calls, finish_reason="tool_calls")
    client, sent = openai_client([bad, chat_completion(GOOD)])

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert triage(list(USER)) == Ticket(category="bug", urgency=2)
    [echoed] = sent[1].json["messages"][1]["tool_calls"]
    assert json.loads(echoed["function"]["arguments"]) == {"invalid_json": arguments}
    assert sent[1].json["messages"][2]["role"] == "tool"


def test_json_arguments_are_echoed_as_they_came() -> None:
    """A valid JSON object of the wrong shape goes back unchanged, byte for byte; JSON
    that is no object goes inside one (no ``tool_use`` input can hold it)."""
    arguments = '{"category":"bug",  "urgency":9}'
    calls = [tool_call(0, "Ticket", arguments), tool_call(1, "Ticket", "[1, 2]")]
    bad = chat_completion(None, tool_calls=calls, finish_reason="tool_calls")
    client, sent = openai_client([bad, chat_completion(GOOD)])

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert triage(list(USER)) == Ticket(category="bug", urgency=2)
    echoed = sent[1].json["messages"][1]["tool_calls"]
    wrapped = json.dumps({"invalid_json": "[1, 2]"})
    assert [call["function"]["arguments"] for call in echoed] == [arguments, wrapped]
