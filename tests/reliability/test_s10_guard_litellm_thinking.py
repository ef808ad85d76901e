"""Through LiteLLM, a Claude answer with extended thinking keeps its thinking blocks in
the message's ``thinking_blocks``; a tool re-ask must send them back on the assistant
turn (LiteLLM puts them in front of the calls, as Anthropic requires), whole or
streamed. They were dropped, and so was the text the model said beside its calls."""

from __future__ import annotations

import types
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg
from tests._helpers.schemas import Ticket

BAD = '{"category": "bug", "urgency": 9}'
GOOD = '{"category": "bug", "urgency": 2}'
USER = [{"role": "user", "content": "It crashes"}]
THINKING = {"type": "thinking", "thinking": "The user wants a ticket.", "signature": "sig-1"}
REDACTED = {"type": "redacted_thinking", "data": "opaque-bytes"}


def _litellm(class_name: str, **attributes: Any) -> Any:
    """An object whose class is LiteLLM's by its module, without importing litellm."""
    cls = type(class_name, (types.SimpleNamespace,), {"__module__": "litellm.types.utils"})
    return cls(**attributes)


def _call(arguments: str) -> Any:
    function = types.SimpleNamespace(name="Ticket", arguments=arguments)
    return types.SimpleNamespace(id="call_1", type="function", function=function)


def _response(content: str | None, blocks: list[dict[str, Any]], calls: list[Any]) -> Any:
    message = _litellm(
        "Message",
        role="assistant",
        content=content,
        tool_calls=calls or None,
        function_call=None,
        refusal=None,
        thinking_blocks=blocks or None,
        reasoning_content="The user wants a ticket." if blocks else None,
    )
    finish = "tool_calls" if calls else "stop"
    choice = _litellm("Choices", index=0, message=message, finish_reason=finish)
    usage = types.SimpleNamespace(prompt_tokens=20, completion_tokens=10, total_tokens=30)
    return _litellm(
        "ModelResponse",
        id="chatcmpl-1",
        object="chat.completion",
        model="claude-sonnet-4-5",
        choices=[choice],
        usage=usage,
    )


def _chunk(**delta: Any) -> Any:
    fields = {"content": None, "tool_calls": None, "role": None} | delta
    finish = fields.pop("finish_reason", None)
    choice = _litellm("StreamingChoices", index=0, delta=_litellm("Delta", **fields))
    choice.finish_reason = finish
    return _litellm(
        "ModelResponseStream", id="chatcmpl-1", model="claude-sonnet-4-5", choices=[choice]
    )


def _stream(text: str, arguments: str) -> list[Any]:
    """Chunks as LiteLLM streams a Claude answer: thinking in pieces with the signature
    last, a redacted block, some text, then the tool call's arguments in two pieces."""
    thought = THINKING["thinking"]
    piece = {"type": "thinking", "signature": None}
    call = {"index": 0, "id": "call_1", "type": "function"}
    half = len(arguments) // 2
    return [
        _chunk(role="assistant", thinking_blocks=[piece | {"thinking": thought[:5]}]),
        _chunk(thinking_blocks=[piece | {"thinking": thought[5:]}]),
        _chunk(thinking_blocks=[{"type": "thinking", "thinking": "", "signature": "sig-1"}]),
        _chunk(thinking_blocks=[REDACTED]),
        _chunk(content=text),
        _chunk(tool_calls=[call | {"function": {"name": "Ticket", "arguments": arguments[:half]}}]),
        _chunk(tool_calls=[{"index": 0, "function": {"arguments": arguments[half:]}}]),
        _chunk(finish_reason="tool_calls"),
    ]


def _guarded(answers: list[Any], seen: list[list[dict[str, Any]]]) -> Any:
    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        seen.append([dict(m) for m in messages])
        return answers[len(seen) - 1]

    return triage


def _check(turn: dict[str, Any], text: str | None) -> None:
    assert turn["role"] == "assistant"
    assert turn["thinking_blocks"] == [THINKING, REDACTED]
    assert turn["content"] == text
    [call] = turn["tool_calls"]
    assert (call["id"], call["function"]["arguments"]) == ("call_1", BAD)


def test_a_litellm_reask_sends_the_thinking_blocks_back() -> None:
    seen: list[list[dict[str, Any]]] = []
    answers = [
        _response("Filing it.", [THINKING, REDACTED], [_call(BAD)]),
        _response(GOOD, [], []),
    ]
    assert _guarded(answers, seen)(list(USER)) == Ticket(category="bug", urgency=2)
    _check(seen[1][1], "Filing it.")
    assert seen[1][2] == seen[1][2] | {"role": "tool", "tool_call_id": "call_1"}


def test_a_streamed_litellm_reask_sends_the_joined_thinking_blocks_back() -> None:
    seen: list[list[dict[str, Any]]] = []
    answers = [iter(_stream("Filing it.", BAD)), _response(GOOD, [], [])]
    assert _guarded(answers, seen)(list(USER)) == Ticket(category="bug", urgency=2)
    _check(seen[1][1], "Filing it.")


def test_the_litellm_reply_keeps_the_thinking_blocks() -> None:
    """Whole and streamed, the reply holds the same blocks; a block missing its
    signature is left out (Anthropic refuses it)."""
    whole = lg.adapters.adapt(_response(None, [THINKING, REDACTED], [_call(BAD)]))
    assert whole is not None
    assert whole.thinking == (THINKING, REDACTED)
    chunks = _stream("", BAD)
    accumulator = lg.adapters.accumulator_for(chunks[0])
    assert accumulator is not None
    for chunk in chunks:
        accumulator.feed(chunk)
    assert accumulator.reply().thinking == (THINKING, REDACTED)
    unsigned = {"type": "thinking", "thinking": "half a thought", "signature": None}
    cut = lg.adapters.adapt(_response(None, [unsigned], [_call(BAD)]))
    assert cut is not None
    assert cut.thinking == ()


@settings(max_examples=30, deadline=None)
@given(
    blocks=st.lists(
        st.one_of(
            st.builds(dict, type=st.just("thinking"), thinking=st.text(), signature=st.text()),
            st.builds(dict, type=st.just("redacted_thinking"), data=st.text()),
            st.dictionaries(st.sampled_from(["type", "thinking", "data"]), st.none()),
            st.none(),
            st.integers(),
        ),
        max_size=5,
    )
)
def test_any_thinking_blocks_are_read_without_failing(blocks: list[Any]) -> None:
    """Whatever a LiteLLM message holds there, the reply keeps the whole blocks alone."""
    reply = lg.adapters.adapt(_response(None, blocks, [_call(BAD)]))
    assert reply is not None
    whole = [b for b in blocks if isinstance(b, dict) and all(type(v) is str for v in b.values())]
    signed = [b for b in whole if b and (b["type"] != "thinking" or b["signature"])]
    assert list(reply.thinking) == signed


def test_a_chat_completions_reask_keeps_the_text_said_beside_the_call() -> None:
    """The OpenAI SDK's request: the assistant turn has the model's text with its call,
    and no thinking_blocks (a field OpenAI does not take); blank text stays None."""
    from tests._helpers.sdk_mocks import chat_completion, openai_client, tool_call

    said = chat_completion(
        "Let me file that.", tool_calls=[tool_call(0, "Ticket", BAD)], finish_reason="tool_calls"
    )
    blank = chat_completion(
        " ", tool_calls=[tool_call(0, "Ticket", BAD)], finish_reason="tool_calls"
    )
    client, sent = openai_client([said, chat_completion(GOOD), blank, chat_completion(GOOD)])

    @lg.guard(schema=Ticket, retries=1)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert triage(list(USER)) == Ticket(category="bug", urgency=2)
    turn = sent[1].json["messages"][1]
    assert (turn["content"], "thinking_blocks" in turn) == ("Let me file that.", False)
    assert turn["tool_calls"][0]["id"] == "call_0"
    assert triage(list(USER)) == Ticket(category="bug", urgency=2)
    assert sent[3].json["messages"][1]["content"] is None


def _usage(**fields: Any) -> Any:
    return _litellm("Usage", prompt_tokens=1100, completion_tokens=10, total_tokens=1110, **fields)


@pytest.mark.parametrize(
    "usage",
    [
        _usage(
            prompt_tokens_details=types.SimpleNamespace(
                cached_tokens=50, cache_creation_tokens=1000
            )
        ),
        _usage(
            prompt_tokens_details=types.SimpleNamespace(cached_tokens=50),
            cache_creation_input_tokens=1000,
        ),
    ],
    ids=["details", "usage"],
)
def test_litellm_cache_writes_are_read(usage: Any) -> None:
    """LiteLLM reports an Anthropic answer's cache writes in its own fields; its
    prompt_tokens holds them already. They were unread, billed as plain input."""
    response = _response(GOOD, [], [])
    response.usage = usage
    reply = lg.adapters.adapt(response)
    assert reply is not None
    assert reply.usage == lg.Usage(
        input=1100, output=10, cached_input=50, cache_write=1000, total=1110
    )
    as_dict = {"id": "c", "object": "chat.completion", "model": "claude-sonnet-4-5"}
    as_dict["choices"] = [{"index": 0, "message": {"role": "assistant", "content": GOOD}}]
    dumped = _litellm("ModelResponse", **as_dict, usage=usage)
    again = lg.adapters.adapt(dumped)
    assert again is not None
    assert again.usage == reply.usage


def test_litellm_usage_without_cache_writes_is_unchanged() -> None:
    response = _response(GOOD, [], [])
    response.usage = _usage(cache_creation_input_tokens=0)
    reply = lg.adapters.adapt(response)
    assert reply is not None
    assert reply.usage == lg.Usage(input=1100, output=10, total=1110)


def test_a_litellm_streams_cache_writes_are_read() -> None:
    """The usage chunk at a LiteLLM stream's end, read the same way."""
    chunks = _stream("", BAD)
    last = _chunk()
    last.choices = []
    last.usage = _usage(cache_creation_input_tokens=1000)
    accumulator = lg.adapters.accumulator_for(chunks[0])
    assert accumulator is not None
    for chunk in [*chunks, last]:
        accumulator.feed(chunk)
    usage = accumulator.reply().usage
    assert usage is not None
    assert (usage.input, usage.cache_write) == (1100, 1000)
