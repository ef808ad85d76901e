"""Re-asks the providers would refuse: what the guard sends back after a hostile answer
must be a request the real API accepts, sent through the real SDKs."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import (
    anthropic_client,
    anthropic_message,
    chat_completion,
    openai_client,
)

GOOD = '{"category": "bug", "urgency": 2}'
USER = [{"role": "user", "content": "The app crashes"}]


def _blank_turns(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The turns whose content is empty or only whitespace: Anthropic answers such a turn
    (other than a final assistant one) with a 400, "messages must have non-empty content"
    / "text content blocks must contain non-whitespace text"."""
    blank = []
    for message in messages:
        content = message.get("content")
        texts = [content] if isinstance(content, str) else []
        if isinstance(content, list):
            texts = [block.get("text", "x") for block in content if block.get("type") == "text"]
        if content == [] or any(not text.strip() for text in texts):
            blank.append(message)
    return blank


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=st.text(alphabet=" \n\t\r", max_size=8))
def test_an_empty_anthropic_answer_is_reasked_without_an_empty_turn(answer: str) -> None:
    client, sent = anthropic_client([anthropic_message(answer), anthropic_message(GOOD)])

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=messages)

    assert triage(list(USER)) == Ticket(category="bug", urgency=2)
    reask = sent[1].json["messages"]
    assert _blank_turns(reask) == []
    assert reask[0] == USER[0]
    assert "the answer is empty" in reask[-1]["content"]
    assert reask[-1]["role"] == "user"


def test_an_anthropic_answer_with_no_blocks_is_reasked_without_an_empty_turn() -> None:
    client, sent = anthropic_client([anthropic_message([]), anthropic_message(GOOD)])

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]], system: str) -> Any:
        return client.messages.create(
            model="claude-haiku-4-5", max_tokens=100, system=system, messages=messages
        )

    assert triage(list(USER), "Answer in JSON") == Ticket(category="bug", urgency=2)
    assert _blank_turns(sent[1].json["messages"]) == []
    assert sent[1].json["system"] == "Answer in JSON"


def test_an_empty_openai_answer_is_reasked_with_the_correction() -> None:
    client, sent = openai_client([chat_completion(None), chat_completion(GOOD)])

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert triage(list(USER)) == Ticket(category="bug", urgency=2)
    reask = sent[1].json["messages"]
    assert _blank_turns(reask) == []
    assert reask[0] == USER[0]
    assert "the answer is empty" in reask[-1]["content"]


THINKING = {"type": "thinking", "thinking": "The user wants a ticket.", "signature": "sig-1"}
REDACTED = {"type": "redacted_thinking", "data": "opaque-bytes"}


def _thinking_reply(calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    uses = [
        {"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": arguments}
        for i, (name, arguments) in enumerate(calls)
    ]
    blocks = [THINKING, REDACTED, {"type": "text", "text": "Filing it."}, *uses]
    return anthropic_message(blocks, stop_reason="tool_use")


def test_a_tool_reask_with_extended_thinking_sends_the_thinking_back() -> None:
    """With thinking on, Anthropic answers a tool_result whose assistant turn does not
    start with its thinking blocks with a 400 ("a final assistant message must start
    with a thinking block"); they go back unmodified."""
    bad = _thinking_reply([("Ticket", {"category": "bug", "urgency": 9})])
    client, sent = anthropic_client([bad, anthropic_message(GOOD)])

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=2000,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=messages,
        )

    assert triage(list(USER)) == Ticket(category="bug", urgency=2)
    assistant = sent[1].json["messages"][1]
    assert assistant["role"] == "assistant"
    assert assistant["content"][:2] == [THINKING, REDACTED]
    assert assistant["content"][-1]["type"] == "tool_use"


def test_a_reask_of_parallel_tool_calls_with_extended_thinking_sends_the_thinking_back() -> None:
    bad = _thinking_reply([("Ticket", {"category": "bug", "urgency": 9}), ("Ticket", {})])
    client, sent = anthropic_client([bad, anthropic_message("[" + GOOD + "]")])

    @lg.guard(schema=list[Ticket], retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=2000,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=messages,
        )

    assert triage(list(USER)) == [Ticket(category="bug", urgency=2)]
    assistant = sent[1].json["messages"][1]
    assert assistant["content"][:2] == [THINKING, REDACTED]
    # The text the model said before its calls stays in its place (s10).
    assert [block["type"] for block in assistant["content"][2:]] == ["text", "tool_use", "tool_use"]
