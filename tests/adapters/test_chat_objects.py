"""Responses read straight from the SDK's objects give what the general reader gives.

`openai_chat` reads a response made of the SDK's own objects with ``getattr`` (the
fast path) and anything else with `get`; the two must agree on every response,
malformed ones included, which the SDK builds without validation.
"""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from anthropic.types import Message
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.chat import ChatCompletion

from llmguard import Usage
from llmguard._core.reply import get, get_rare
from llmguard.adapters import Reply, ToolCall, adapt
from llmguard.adapters._providers import _chat_any, _chat_objects, builtin_adapter, openai_chat
from tests._helpers.sdk_mocks import openai_client

ANSWER = '{"category": "billing", "urgency": 4}'


def body(**changes: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": ANSWER, "refusal": None}
    message.update(changes.pop("message", {}))
    usage: dict[str, Any] = {"prompt_tokens": 42, "completion_tokens": 12, "total_tokens": 54}
    usage.update(changes.pop("usage", {}))
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": usage,
        **changes,
    }


def both(response: object) -> tuple[Any, Any]:
    """What the general reader and `openai_chat` make of ``response`` (or the error)."""
    results = []
    for read in (lambda r: _chat_any(r, "openai"), openai_chat):
        try:
            results.append(read(response))
        except Exception as exc:  # the adapter's error, which adapt() turns into None
            results.append((type(exc), str(exc)))
    return results[0], results[1]


def test_an_sdk_response_is_read_by_attribute_and_read_right() -> None:
    client, _ = openai_client([body(usage={"prompt_tokens_details": {"cached_tokens": 30}})])
    response = client.chat.completions.create(model="gpt-4o-mini", messages=[])
    general, fast = both(response)
    assert _chat_objects(response, "openai") is not None  # the classes are known now
    assert (
        fast
        == general
        == Reply(
            text=ANSWER,
            usage=Usage(input=42, output=12, cached_input=30, total=54),
            model="gpt-4o-mini",
            finish_reason="stop",
            response_id="chatcmpl-1",
            provider="openai",
        )
    )


def test_tool_calls_refusals_and_later_choices_read_alike() -> None:
    tool = {"id": "call_1", "type": "function", "function": {"name": "T", "arguments": "{}"}}
    cases = [
        body(message={"content": None, "tool_calls": [tool]}),
        body(message={"content": None, "refusal": "I can't help with that."}),
        {**body(), "choices": [{"index": 1, "message": {"content": "second"}}, *body()["choices"]]},
        body(usage={"total_tokens": None, "completion_tokens_details": {"reasoning_tokens": 5}}),
    ]
    for case in cases:
        response = ChatCompletion.construct(**case)
        general, fast = both(response)
        assert fast == general
        assert isinstance(fast, Reply)
    tool_reply = openai_chat(ChatCompletion.construct(**cases[0]))
    assert tool_reply.tool_calls == (ToolCall("call_1", "T", "{}"),)
    assert openai_chat(ChatCompletion.construct(**cases[2])).text == ANSWER
    assert openai_chat(ChatCompletion.construct(**cases[3])).usage == Usage(
        input=42, output=12, reasoning=5, total=54
    )


_odd = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=10**13),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["text", "type", "cached_tokens"]), st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(
    index=_odd,
    content=_odd,
    refusal=_odd,
    finish=_odd,
    model=_odd,
    prompt=_odd,
    completion=_odd,
    total=_odd,
    details=_odd,
    choices_twice=st.booleans(),
)
def test_malformed_sdk_objects_read_alike(
    index: Any,
    content: Any,
    refusal: Any,
    finish: Any,
    model: Any,
    prompt: Any,
    completion: Any,
    total: Any,
    details: Any,
    choices_twice: bool,
) -> None:
    # The SDK builds response objects without validation: any field may hold anything.
    choice = {"index": index, "finish_reason": finish, "message": {"content": content}}
    choice["message"]["refusal"] = refusal
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "prompt_tokens_details": details,
    }
    data = {**body(model=model, usage=usage), "choices": [choice] * (2 if choices_twice else 1)}
    response = ChatCompletion.construct(**data)
    general, fast = both(response)
    assert fast == general
    assert adapt(response) == (general if isinstance(general, Reply) else None)


def test_a_dict_response_is_still_read() -> None:
    reply = openai_chat(body())
    assert reply.text == ANSWER
    assert reply.usage == Usage(input=42, output=12, total=54)


class _WithExtras(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    kind: str = "x"

    @property
    def shown(self) -> str:
        return "property"


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(["object", "kind", "shown", "output_tokens_details", "model_dump"]),
    extras=st.dictionaries(st.sampled_from(["object", "output_tokens_details"]), _odd, max_size=2),
    how=st.sampled_from(["validate", "construct", "dict"]),
)
def test_get_rare_reads_what_get_reads(name: str, extras: dict[str, Any], how: str) -> None:
    data = {"kind": "k", **extras}
    obj: object
    if how == "dict":
        obj = data
    elif how == "construct":
        obj = _WithExtras.model_construct(**data)
    else:
        obj = _WithExtras.model_validate(data)
    for _ in range(2):  # the first read looks at the class, the second uses what it saw
        rare, plain = get_rare(obj, name), get(obj, name)
        assert rare == plain or (rare != rare and plain != plain)  # NaN is not NaN


def test_an_anthropic_message_reads_the_same_with_an_extra_object_field() -> None:
    data = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": ANSWER}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 42, "output_tokens": 12},
    }
    plain = adapt(Message.model_validate(data))
    assert plain is not None
    assert (plain.provider, plain.text) == ("anthropic", ANSWER)
    # An extra "object" field naming a Chat Completion is read, as get() would read it.
    odd = Message.model_validate({**data, "object": "chat.completion"})
    assert get_rare(odd, "object") == "chat.completion"
    assert builtin_adapter(odd) is openai_chat


def test_the_fast_builders_set_every_field_and_make_the_dataclasses() -> None:
    """The reply and usage builders take every field of `Reply` and `Usage` (``estimated``
    aside, always false), and make objects equal to, and printed as, the dataclasses'."""
    import dataclasses
    import inspect

    from llmguard._core.records import usage_of
    from llmguard.adapters._providers import _reply

    reply_fields = [f.name for f in dataclasses.fields(Reply)]
    assert list(inspect.signature(_reply).parameters) == reply_fields
    usage_fields = [f.name for f in dataclasses.fields(Usage) if f.name != "estimated"]
    assert list(inspect.signature(usage_of).parameters) == usage_fields
    usage = usage_of(3, 4, 1, None, 2, 7)
    expected_usage = Usage(input=3, output=4, cached_input=1, reasoning=2, total=7)
    assert type(usage) is Usage
    assert usage == expected_usage
    assert repr(usage) == repr(expected_usage)
    call = ToolCall("id", "f", {"a": 1})
    reply = _reply("t", (call,), usage, "m", "stop", None, "r", "openai", ("p",))
    expected = Reply(
        text="t", tool_calls=(call,), usage=expected_usage, model="m", finish_reason="stop",
        response_id="r", provider="openai", problems=("p",),
    )  # fmt: skip
    assert type(reply) is Reply
    assert reply == expected
    assert repr(reply) == repr(expected)
    with pytest.raises(dataclasses.FrozenInstanceError):
        reply.text = "other"  # type: ignore[misc]
