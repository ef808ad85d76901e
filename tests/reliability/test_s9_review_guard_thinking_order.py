"""A tool re-ask under Anthropic's interleaved thinking sends the thinking blocks back
where they stood among the calls (Anthropic refuses a latest assistant turn whose
thinking blocks were moved: "cannot be modified"), streamed or not; a thinking block a
stream cut before its signature is left out (one with an empty signature is refused);
redacted thinking alone goes back whole. Real anthropic SDK, JSON and SSE."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import anthropic_client, anthropic_events, anthropic_message

BAD = '{"category": "bug", "urgency": 9}'
GOOD = '{"category": "bug", "urgency": 2}'
ASK = [{"role": "user", "content": "File it"}]


def _thinking(index: int, text: str, signature: str | None) -> list[dict[str, Any]]:
    start = {"type": "thinking", "thinking": "", "signature": ""}
    events = [
        {"type": "content_block_start", "index": index, "content_block": start},
        {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "thinking_delta", "thinking": text},
        },
    ]
    if signature is None:
        return events  # the stream ends inside the block
    delta = {"type": "signature_delta", "signature": signature}
    events.append({"type": "content_block_delta", "index": index, "delta": delta})
    return [*events, {"type": "content_block_stop", "index": index}]


def _tool(index: int, tool_id: str, name: str, arguments: str) -> list[dict[str, Any]]:
    block = {"type": "tool_use", "id": tool_id, "name": name, "input": {}}
    delta = {"type": "input_json_delta", "partial_json": arguments}
    return [
        {"type": "content_block_start", "index": index, "content_block": block},
        {"type": "content_block_delta", "index": index, "delta": delta},
        {"type": "content_block_stop", "index": index},
    ]


START = {"type": "message_start", "message": anthropic_message([], stop_reason=None)}
END = [
    {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None}}
    | {"usage": {"output_tokens": 30}},
    {"type": "message_stop"},
]
INTERLEAVED = [
    START,
    *_thinking(0, "look it up first", "sig-0"),
    *_tool(1, "toolu_a", "search", '{"q": "crash"}'),
    *_thinking(2, "now file it", "sig-2"),
    *_tool(3, "toolu_b", "Ticket", BAD),
    *END,
]
WHOLE = anthropic_message(
    [
        {"type": "thinking", "thinking": "look it up first", "signature": "sig-0"},
        {"type": "tool_use", "id": "toolu_a", "name": "search", "input": {"q": "crash"}},
        {"type": "thinking", "thinking": "now file it", "signature": "sig-2"},
        {"type": "tool_use", "id": "toolu_b", "name": "Ticket", "input": {"category": "bug"}},
    ],
    stop_reason="tool_use",
)
EXPECTED = [
    ("thinking", "sig-0"),
    ("tool_use", "toolu_a"),
    ("thinking", "sig-2"),
    ("tool_use", "toolu_b"),
]


def _assistant_turn(first: Any) -> list[dict[str, Any]]:
    """The assistant turn of the re-ask after ``first``."""
    good = anthropic_events([], tool=("toolu_c", "Ticket", [GOOD]), stop_reason="tool_use")
    client, sent = anthropic_client([first, good])

    @lg.guard(schema=Ticket, retries=1)
    def file(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=4096,
            messages=messages,
            thinking={"type": "enabled", "budget_tokens": 2048},
            extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
            stream=True,
        )

    assert file(ASK) == Ticket(category="bug", urgency=2)
    assert len(sent) == 2
    turn = sent[1].json["messages"][len(ASK)]
    assert turn["role"] == "assistant"
    content: list[dict[str, Any]] = turn["content"]
    return content


def _shape(content: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(block["type"], block.get("signature") or block.get("id") or "") for block in content]


def test_interleaved_thinking_goes_back_where_it_stood_in_a_stream() -> None:
    """thinking, call, thinking, call: re-asked in that order, the blocks unchanged."""
    content = _assistant_turn(INTERLEAVED)
    assert _shape(content) == EXPECTED
    assert content[2] == {"type": "thinking", "thinking": "now file it", "signature": "sig-2"}


def test_interleaved_thinking_goes_back_where_it_stood_in_a_whole_message() -> None:
    """The same answer as one message: the same order."""
    good = anthropic_message([{"type": "tool_use", "id": "toolu_c", "name": "Ticket"} | {
        "input": {"category": "bug", "urgency": 2}
    }], stop_reason="tool_use")  # fmt: skip
    client, sent = anthropic_client([WHOLE, good])

    @lg.guard(schema=Ticket, retries=1)
    def file(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(model="claude-sonnet-4-5", max_tokens=4096, messages=messages)

    assert file(ASK) == Ticket(category="bug", urgency=2)
    assert _shape(sent[1].json["messages"][len(ASK)]["content"]) == EXPECTED


def test_a_thinking_block_cut_before_its_signature_is_left_out() -> None:
    """A call, then the stream ends inside the next thinking block: the re-ask holds the
    signed block and the call, not the unsigned block."""
    cut = [START, *_thinking(0, "file it", "sig-0"), *_tool(1, "toolu_b", "Ticket", BAD)]
    content = _assistant_turn([*cut, *_thinking(2, "hmm", None)])
    assert _shape(content) == [("thinking", "sig-0"), ("tool_use", "toolu_b")]


def test_redacted_thinking_alone_goes_back_whole() -> None:
    """A redacted_thinking block before the call, and no other thinking."""
    block = {"type": "redacted_thinking", "data": "EncryptedOpaque=="}
    events = [
        START,
        {"type": "content_block_start", "index": 0, "content_block": block},
        {"type": "content_block_stop", "index": 0},
        *_tool(1, "toolu_b", "Ticket", BAD),
        *END,
    ]
    content = _assistant_turn(events)
    assert content[0] == block
    assert [b["type"] for b in content] == ["redacted_thinking", "tool_use"]


@settings(max_examples=25, deadline=None)
@given(order=st.lists(st.booleans(), min_size=1, max_size=6))
def test_any_mix_of_thinking_and_calls_goes_back_in_its_order(order: list[bool]) -> None:
    """Thinking blocks (True) and calls (False) in any order, the last call the bad
    answer: the re-ask's assistant turn holds them in that order, each unchanged."""
    blocks: list[dict[str, Any]] = []
    for number, thinks in enumerate([*order, False]):
        if thinks:
            blocks.append({"type": "thinking", "thinking": f"t{number}", "signature": f"s{number}"})
        else:
            blocks.append({"type": "tool_use", "id": f"toolu_{number}", "name": "search"} | {
                "input": {"q": str(number)}
            })  # fmt: skip
    blocks[-1] |= {"name": "Ticket", "input": {"category": "bug"}}
    good = anthropic_message([{"type": "tool_use", "id": "toolu_ok", "name": "Ticket"} | {
        "input": {"category": "bug", "urgency": 2}
    }], stop_reason="tool_use")  # fmt: skip
    client, sent = anthropic_client([anthropic_message(blocks, stop_reason="tool_use"), good])

    @lg.guard(schema=Ticket, retries=1)
    def file(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(model="claude-sonnet-4-5", max_tokens=99, messages=messages)

    assert file(ASK) == Ticket(category="bug", urgency=2)
    assert sent[1].json["messages"][len(ASK)]["content"] == blocks
