"""An Anthropic re-ask sends the model's turn back whole: the blocks of server tools
(``server_tool_use``, ``web_search_tool_result``) and of types llmguard does not know
stay where they stood among the text, thinking and ``tool_use`` blocks, whole messages
and streams alike. Checked on the request body the real anthropic SDK sent."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import anthropic_client, anthropic_message

GOOD = {"category": "bug", "urgency": 2}
BAD = {"category": "bug", "urgency": 9}

SEARCH = {
    "type": "server_tool_use",
    "id": "srvtoolu_1",
    "name": "web_search",
    "input": {"query": "app crashes on start"},
}
RESULTS = {
    "type": "web_search_tool_result",
    "tool_use_id": "srvtoolu_1",
    "content": [
        {
            "type": "web_search_result",
            "url": "https://example.com/crash",
            "title": "Crash on start",
            "encrypted_content": "EqgfCioIARgBIiQ3",
            "page_age": "April 30, 2025",
        }
    ],
}
UNKNOWN = {"type": "container_upload", "file_id": "file_1"}
THINKING = {"type": "thinking", "thinking": "Search first.", "signature": "sig=="}


def _tool_use(arguments: dict[str, Any], id: str = "toolu_1") -> dict[str, Any]:
    return {"type": "tool_use", "id": id, "name": "Ticket", "input": arguments}


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _events(blocks: list[dict[str, Any]], stop_reason: str) -> list[dict[str, Any]]:
    """The stream of a message holding ``blocks``: tool and server-tool inputs in
    ``input_json_delta`` pieces, text and thinking in their deltas, others whole."""
    start = anthropic_message([], stop_reason=None, usage=(10, 1))
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(blocks):
        kind = block["type"]
        opening, deltas = dict(block), []
        if kind in ("tool_use", "server_tool_use"):
            opening["input"] = {}
            raw = json.dumps(block["input"])
            deltas = [{"type": "input_json_delta", "partial_json": raw[i : i + 7]} for i in (0, 7)]
            deltas.append({"type": "input_json_delta", "partial_json": raw[14:]})
        elif kind == "text":
            opening["text"] = ""
            deltas = [{"type": "text_delta", "text": block["text"]}]
        elif kind == "thinking":
            opening |= {"thinking": "", "signature": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": block["thinking"]},
                {"type": "signature_delta", "signature": block["signature"]},
            ]
        events.append({"type": "content_block_start", "index": index, "content_block": opening})
        events += [
            {"type": "content_block_delta", "index": index, "delta": delta} for delta in deltas
        ]
        events.append({"type": "content_block_stop", "index": index})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": 5},
        }
    )
    events.append({"type": "message_stop"})
    return events


def _answer(blocks: list[dict[str, Any]], stream: bool) -> Any:
    stop = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
    return _events(blocks, stop) if stream else anthropic_message(blocks, stop_reason=stop)


def _resent(blocks: list[dict[str, Any]], stream: bool) -> Any:
    """The assistant turn of the re-ask the guard sends after an answer of ``blocks``."""
    client, sent = anthropic_client(
        [_answer(blocks, stream), _answer([_tool_use(GOOD, "toolu_2")], stream)]
    )

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(
            model="claude-sonnet-4-5", max_tokens=500, messages=messages, stream=stream
        )

    assert triage([{"role": "user", "content": "It crashes"}]) == Ticket(**GOOD)
    assert len(sent) == 2
    return sent[1].json["messages"]


def test_a_tool_reask_keeps_server_tool_blocks_in_place() -> None:
    """Thinking, text, a web search, its results, an unknown block, the call: all back
    in order."""
    for stream in (False, True):
        blocks = [THINKING, _text("Let me look."), SEARCH, RESULTS, UNKNOWN, _tool_use(BAD)]
        messages = _resent(blocks, stream)
        assert messages[1] == {"role": "assistant", "content": blocks}, stream
        (result,) = messages[2]["content"]
        assert (result["type"], result["tool_use_id"]) == ("tool_result", "toolu_1")


def test_a_text_reask_sends_the_search_back_with_the_answer() -> None:
    """A text answer after a web search: the search and its results go back with the
    text, so the model can correct its answer without searching again."""
    blocks = [SEARCH, RESULTS, _text(json.dumps(BAD))]
    for stream in (False, True):
        messages = _resent_text(blocks, stream)
        assert messages[1] == {"role": "assistant", "content": blocks}, stream
        assert messages[2]["role"] == "user"
        assert "urgency" in messages[2]["content"]


def _resent_text(blocks: list[dict[str, Any]], stream: bool) -> Any:
    answers = [_answer(blocks, stream), _answer([_text(json.dumps(GOOD))], stream)]
    client, sent = anthropic_client(answers)

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(
            model="claude-sonnet-4-5", max_tokens=500, messages=messages, stream=stream
        )

    assert triage([{"role": "user", "content": "It crashes"}]) == Ticket(**GOOD)
    return sent[1].json["messages"]


def test_a_text_answer_without_server_blocks_is_resent_as_text() -> None:
    """Nothing else changed: a plain text answer goes back as a string, as before."""
    client, sent = anthropic_client(
        [anthropic_message(json.dumps(BAD)), anthropic_message(json.dumps(GOOD))]
    )

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(model="claude-sonnet-4-5", max_tokens=500, messages=messages)

    triage([{"role": "user", "content": "It crashes"}])
    assert sent[1].json["messages"][1] == {"role": "assistant", "content": json.dumps(BAD)}


_BLOCKS = st.sampled_from(
    [THINKING, SEARCH, RESULTS, UNKNOWN, _text("Checking."), _text("Done searching.")]
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=st.lists(_BLOCKS, max_size=5), after=st.lists(_BLOCKS, max_size=2))
def test_any_order_of_blocks_goes_back_as_it_came(
    before: list[dict[str, Any]], after: list[dict[str, Any]]
) -> None:
    """Any order of blocks around the call: the resent turn is the turn given."""
    blocks = [*before, _tool_use(BAD), *after]
    # A search without its result (a turn paused mid-search) is left out.
    expected = blocks if RESULTS in blocks else [b for b in blocks if b != SEARCH]
    for stream in (False, True):
        assert _resent(blocks, stream)[1]["content"] == expected


def test_a_search_paused_before_its_result_is_not_sent_without_it() -> None:
    """``pause_turn`` mid-search: the call has no result in the turn, and followed by the
    correction it would be refused; the text goes back alone."""
    paused = [_text("Searching."), SEARCH]
    for first, stream in (
        (anthropic_message(paused, stop_reason="pause_turn"), False),
        (_events(paused, "pause_turn"), True),
    ):
        messages = _resent_after(first, [_text(json.dumps(GOOD))], stream)
        assert messages[1] == {"role": "assistant", "content": "Searching."}


def _resent_after(first: Any, then: list[dict[str, Any]], stream: bool) -> Any:
    client, sent = anthropic_client([first, _answer(then, stream)])

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(
            model="claude-sonnet-4-5", max_tokens=500, messages=messages, stream=stream
        )

    assert triage([{"role": "user", "content": "It crashes"}]) == Ticket(**GOOD)
    return sent[1].json["messages"]
