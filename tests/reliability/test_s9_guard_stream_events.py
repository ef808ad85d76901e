"""Stream accumulators fed events in any order, with any values where the APIs put text
(model output), never raise, and read well-formed streams exactly: Anthropic thinking
blocks joined from their deltas, Responses API calls kept apart by output index."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from llmguard.adapters import AnthropicStream, OpenAIResponsesStream, Reply, ToolCall

_values = st.one_of(st.none(), st.text(max_size=6), st.integers(-2, 3), st.just({}))
_indexes = st.one_of(st.none(), st.integers(-1, 3), st.text(max_size=1))


@st.composite
def _anthropic_event(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["content_block_start", "content_block_delta", "message_delta"]))
    index = draw(_indexes)
    if kind == "content_block_start":
        block_type = draw(st.sampled_from(["thinking", "redacted_thinking", "text", "tool_use"]))
        block = {"type": block_type, "thinking": draw(_values), "signature": draw(_values)}
        block |= {"data": draw(_values), "text": draw(_values), "id": draw(_values)}
        return {"type": kind, "index": index, "content_block": block}
    if kind == "content_block_delta":
        delta_type = draw(st.sampled_from(["thinking_delta", "signature_delta", "text_delta"]))
        delta = {"type": delta_type, "thinking": draw(_values), "signature": draw(_values)}
        return {"type": kind, "index": index, "delta": delta | {"text": draw(_values)}}
    return {"type": kind, "delta": {"stop_reason": draw(_values)}}


@st.composite
def _responses_event(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            [
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.custom_tool_call_input.delta",
                "response.output_item.done",
                "response.output_text.delta",
            ]
        )
    )
    event: dict[str, Any] = {"type": kind, "output_index": draw(_indexes)}
    item_type = draw(st.sampled_from(["function_call", "custom_tool_call", "message"]))
    event["item"] = {"type": item_type, "call_id": draw(_values), "name": draw(_values)}
    event["item"] |= {"arguments": draw(_values), "input": draw(_values)}
    event["delta"] = draw(_values)
    return event


@settings(max_examples=60, deadline=None)
@given(events=st.lists(_anthropic_event(), max_size=12))
def test_anthropic_events_in_any_order_never_break_the_reply(events: list[Any]) -> None:
    accumulator = AnthropicStream()
    for event in events:
        accumulator.feed(event)
    reply = accumulator.reply()
    assert isinstance(reply, Reply)
    for block in reply.thinking:
        assert block["type"] in ("thinking", "redacted_thinking")
        assert all(isinstance(value, str) for value in block.values())


@settings(max_examples=60, deadline=None)
@given(events=st.lists(_responses_event(), max_size=12))
def test_responses_events_in_any_order_never_break_the_reply(events: list[Any]) -> None:
    accumulator = OpenAIResponsesStream()
    for event in events:
        accumulator.feed(event)
    reply = accumulator.reply()
    assert isinstance(reply, Reply)
    assert reply.finish_reason == "incomplete"
    assert all(isinstance(call.arguments, (str, dict)) for call in reply.tool_calls)


@settings(max_examples=50, deadline=None)
@given(
    thinking=st.lists(st.text(max_size=8), min_size=1, max_size=5),
    signature=st.lists(st.text(max_size=8), min_size=1, max_size=3),
)
def test_a_thinking_block_is_joined_from_its_deltas(
    thinking: list[str], signature: list[str]
) -> None:
    start = {"type": "thinking", "thinking": "", "signature": ""}
    events: list[dict[str, Any]] = [{"type": "content_block_start", "index": 0} | {
        "content_block": start
    }]  # fmt: skip
    events += [
        {"type": "content_block_delta", "index": 0}
        | {"delta": {"type": "thinking_delta", "thinking": piece}}
        for piece in thinking
    ]
    events += [
        {"type": "content_block_delta", "index": 0}
        | {"delta": {"type": "signature_delta", "signature": piece}}
        for piece in signature
    ]
    accumulator = AnthropicStream()
    for event in events:
        accumulator.feed(event)
    block = {"type": "thinking", "thinking": "".join(thinking), "signature": "".join(signature)}
    # A block with no signature (cut before it came) could not be sent back: left out.
    assert accumulator.reply().thinking == ((block,) if block["signature"] else ())


@settings(max_examples=50, deadline=None)
@given(arguments=st.lists(st.text(max_size=10), min_size=2, max_size=4))
def test_interleaved_call_arguments_stay_with_their_call(arguments: list[str]) -> None:
    """Deltas of several calls, interleaved, are joined per output index."""
    accumulator = OpenAIResponsesStream()
    for index in range(len(arguments)):
        item = {"type": "function_call", "call_id": f"c{index}", "name": f"f{index}"}
        accumulator.feed({"type": "response.output_item.added", "output_index": index} | {
            "item": item
        })  # fmt: skip
    longest = max(len(text) for text in arguments)
    for position in range(longest):
        for index, text in enumerate(arguments):
            if position < len(text):
                accumulator.feed(
                    {"type": "response.function_call_arguments.delta", "output_index": index}
                    | {"delta": text[position]}
                )
    expected = tuple(ToolCall(f"c{i}", f"f{i}", text) for i, text in enumerate(arguments))
    assert accumulator.reply().tool_calls == expected
