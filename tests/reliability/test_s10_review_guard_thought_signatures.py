"""A peer-parity gap beside this session's re-ask fixes (reasoning_content, thinking
blocks): Gemini 3 behind its OpenAI-compatible endpoint attaches its thought signature
to each tool call, as ``extra_content: {"google": {"thought_signature": ...}}``, and
refuses a later request whose assistant turn holds the call without it ("Function call
is missing a thought_signature", 400; openai/codex#7519). A tool re-ask rebuilt the call
from its id, name and arguments, so the re-ask of a Gemini 3 tool call always failed.
Checked on the request bodies the real OpenAI SDK sent, whole and streamed."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg
from tests._helpers.schemas import Ticket
from tests._helpers.sdk_mocks import chat_completion, openai_client

BAD = {"category": "bug", "urgency": 9}
GOOD = {"category": "bug", "urgency": 2}
USER = [{"role": "user", "content": "It crashes"}]
SIGNED = {"google": {"thought_signature": "CiQB0e2Kb-signature=="}}


def _call(index: int, arguments: Any, extra: Any = None) -> dict[str, Any]:
    call: dict[str, Any] = {
        "id": f"call_{index}",
        "type": "function",
        "function": {"name": "Ticket", "arguments": json.dumps(arguments)},
    }
    if extra is not None:
        call["extra_content"] = extra
    return call


def _calls(*calls: dict[str, Any]) -> dict[str, Any]:
    return chat_completion(None, tool_calls=list(calls), finish_reason="tool_calls")


def _stream(arguments: Any, extra: Any = None) -> list[dict[str, Any]]:
    """Gemini's stream: the call whole in one delta, its signature beside it."""
    head = {"id": "c-1", "object": "chat.completion.chunk", "created": 1, "model": "gemini-3"}
    piece = {"index": 0, **_call(0, arguments, extra)}
    deltas = [{"role": "assistant", "content": None, "tool_calls": [piece]}, {}]
    finishes = [None, "tool_calls"]
    return [
        {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        for delta, finish in zip(deltas, finishes, strict=True)
    ]


def _reasked(first: Any, *, stream: bool = False) -> list[dict[str, Any]]:
    second = _stream(GOOD) if stream else _calls(_call(0, GOOD))
    client, sent = openai_client([first, second])

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="gemini-3", messages=messages, stream=stream)

    assert triage(list(USER)) == Ticket(category="bug", urgency=2)
    calls: list[dict[str, Any]] = sent[1].json["messages"][1]["tool_calls"]
    return calls


def test_a_tool_reask_sends_the_thought_signature_back_with_its_call() -> None:
    (call,) = _reasked(_calls(_call(0, BAD, SIGNED)))
    assert call["extra_content"] == SIGNED
    assert call["function"]["arguments"] == json.dumps(BAD)


def test_streamed_too() -> None:
    (call,) = _reasked(_stream(BAD, SIGNED), stream=True)
    assert call["extra_content"] == SIGNED


def test_parallel_calls_each_keep_their_own() -> None:
    """Gemini signs the first of parallel calls only: the others go back without."""
    calls = _reasked(_calls(_call(0, BAD, SIGNED), _call(1, BAD)))
    assert calls[0]["extra_content"] == SIGNED
    assert "extra_content" not in calls[1]


def test_a_call_without_one_gets_no_field() -> None:
    """OpenAI refuses fields it does not know: none is added."""
    (call,) = _reasked(_calls(_call(0, BAD)))
    assert set(call) == {"id", "type", "function"}


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@settings(max_examples=30, deadline=None)
@given(extra=st.dictionaries(st.text(max_size=8), _JSON, min_size=1, max_size=3))
def test_whatever_it_holds_it_goes_back_as_it_came(extra: dict[str, Any]) -> None:
    (call,) = _reasked(_calls(_call(0, BAD, extra)))
    assert call["extra_content"] == extra
