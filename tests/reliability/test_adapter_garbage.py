"""Adapters fed garbage: any response, any chunk, read or passed on, never an exception."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

import llmguard as lg
from llmguard.adapters import (
    AnthropicStream,
    OpenAIChatStream,
    OpenAIResponsesStream,
    Reply,
    StreamAccumulator,
    TextStream,
    accumulator_for,
    adapt,
)
from llmguard.testing import capture

KEYS = st.sampled_from(
    [
        "object", "type", "choices", "message", "content", "delta", "usage", "index",
        "tool_calls", "function", "name", "arguments", "input", "output", "text", "refusal",
        "prompt_tokens", "input_tokens", "output_tokens", "cache_read_input_tokens",
        "prompt_tokens_details", "cached_tokens", "status", "incomplete_details", "reason",
        "stop_reason", "stop_details", "id", "model", "finish_reason", "response", "item",
        "content_block", "partial_json",
    ]
)  # fmt: skip
WORDS = st.sampled_from(
    [
        "chat.completion", "chat.completion.chunk", "response", "message", "text", "tool_use",
        "function_call", "output_text", "refusal", "incomplete", "completed", "message_start",
        "content_block_start", "content_block_delta", "message_delta", "text_delta",
        "input_json_delta", "response.completed", "response.output_text.delta", "custom",
    ]
)  # fmt: skip
LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5) | WORDS
JSONISH = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(KEYS | st.text(max_size=3), inner, max_size=6)
    ),
    max_leaves=30,
)


@given(JSONISH)
def test_adapt_never_raises_on_arbitrary_data(data: object) -> None:
    """Whatever nested dicts, lists and strings come in, adapt returns a Reply or None."""
    assert adapt(data) is None or isinstance(adapt(data), Reply)


# Chunks each provider's accumulator reads deep into, with a wrong type at every field
# it takes: random keys seldom nest that deep, so these are tried first; then 40
# generated examples (was hypothesis' 100).
_ODD_CHUNKS: list[object] = [
    {
        "object": "chat.completion.chunk",
        "choices": [
            {
                "index": 0,
                "delta": {
                    "content": 5,
                    "refusal": [],
                    "reasoning_content": {},
                    "function_call": 3,
                    "tool_calls": [{"index": 0, "function": {"name": 3, "arguments": {}}}, {}],
                },
                "finish_reason": 7,
            },
            {"index": "0", "delta": None},
        ],
        "usage": {"prompt_tokens": "x", "prompt_tokens_details": {"cached_tokens": -1}},
    },
    {"type": "message_start", "message": {"usage": {"input_tokens": 1.5}, "content": 5}},
    {"type": "content_block_start", "index": None, "content_block": {"type": "tool_use"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": 5}},
    {"type": "content_block_delta", "index": 0, "delta": {"partial_json": 5}},
    {"type": "message_delta", "delta": {"stop_reason": 5}, "usage": {"output_tokens": -1}},
    {"type": "response.output_text.delta", "delta": 5, "output_index": "x"},
    {"type": "response.completed", "response": {"usage": {"input_tokens": None}, "output": 5}},
]


@settings(max_examples=40)
@given(st.lists(JSONISH, max_size=8))
@example(_ODD_CHUNKS)
@example(_ODD_CHUNKS[::-1])
def test_accumulators_never_raise_on_arbitrary_chunks(chunks: list[object]) -> None:
    """Every accumulator takes any chunks and still gives a reply."""
    for accumulator in (
        OpenAIChatStream(),
        AnthropicStream(),
        OpenAIResponsesStream(),
        TextStream(),
    ):
        for chunk in chunks:
            accumulator.feed(chunk)
        assert isinstance(accumulator.reply(), Reply)
        assert accumulator.items == len(chunks)
    picked = accumulator_for(chunks[0]) if chunks else None
    assert picked is None or isinstance(picked, StreamAccumulator)


# -- hostile objects: attributes that raise, mappings that lie, odd numbers ------------------


class Boom(Exception):
    """What a hostile object raises; never seen by the caller."""


class Exploding:
    """Reading any public attribute raises something other than AttributeError."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise Boom(name)


class Lying(Mapping[str, Any]):
    """A mapping that claims the keys adapters look for, then raises reading them."""

    def __init__(self, shape: dict[str, Any]) -> None:
        self.shape = shape

    def __getitem__(self, key: str) -> Any:
        return self.shape[key]

    def get(self, key: str, default: Any = None) -> Any:
        if key in ("object", "type"):
            return self.shape.get(key, default)
        raise Boom(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.shape)

    def __len__(self) -> int:
        return len(self.shape)


class Attributes:
    """An SDK-like object: the given attributes, nothing else."""

    def __init__(self, **attributes: Any) -> None:
        self.__dict__.update(attributes)

    def __repr__(self) -> str:
        raise Boom("repr")


class HugeInt(int):
    """An int subclass whose str() fails (past Python's digit limit)."""

    def __str__(self) -> str:
        raise ValueError("too many digits")


def _as_object(value: Any) -> Any:
    if isinstance(value, dict):
        return Attributes(**{str(k): _as_object(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_as_object(v) for v in value]
    return value


LYING = st.sampled_from([{"object": "chat.completion"}, {"type": "message", "content": []}]).map(
    Lying
)
HOSTILE = st.one_of(
    st.builds(Exploding),
    st.builds(HugeInt, st.integers()),
    st.sampled_from([math.nan, math.inf, -math.inf, b"\xff\xfe", bytearray(b"x"), 10**400]),
    st.sampled_from([object(), type, print, ValueError("x"), range(3), frozenset({1})]),
)


def _responses(hostile: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(
        JSONISH,
        JSONISH.map(_as_object),
        hostile,
        st.lists(hostile, max_size=3),
        st.dictionaries(KEYS, hostile | JSONISH, max_size=5),
        st.dictionaries(KEYS, hostile | JSONISH, max_size=5).map(_as_object),
    )


ANY_RESPONSE = _responses(HOSTILE | LYING)


# 100 generated examples (was 300), after objects that raise as each adapter and its
# matcher read them: the first thing read (object, type), the choices or the content
# after a shape that matched, usage counts that are no plain numbers, at the top and nested.
@settings(max_examples=100)
@given(ANY_RESPONSE)
@example(Exploding())
@example(Lying({"object": "chat.completion"}))
@example(Lying({"type": "message", "content": []}))
@example({"object": "chat.completion", "choices": [Exploding()], "usage": Exploding()})
@example(
    {
        "object": "chat.completion",
        "choices": [{"message": {"content": HugeInt(3), "tool_calls": [Exploding()]}}],
        "usage": {"prompt_tokens": HugeInt(7), "completion_tokens": math.nan},
    }
)
@example({"type": "message", "content": [Exploding()], "usage": {"input_tokens": 10**400}})
@example({"object": "response", "output": [Lying({"type": "message", "content": []})]})
def test_adapt_never_raises_on_hostile_objects(response: object) -> None:
    """Objects whose attributes, mappings or numbers raise still give a Reply or None."""
    errors: list[Exception] = []
    reply = adapt(response, on_error=errors.append)
    assert reply is None or isinstance(reply, Reply)
    assert all(isinstance(e, Exception) for e in errors)


@given(st.lists(ANY_RESPONSE, max_size=6))
def test_accumulators_never_raise_on_hostile_chunks(chunks: list[object]) -> None:
    """Hostile chunks are counted as skipped, never raised, and a reply is still built."""
    for accumulator in (OpenAIChatStream(), AnthropicStream(), OpenAIResponsesStream()):
        for chunk in chunks:
            accumulator.feed(chunk)
        assert isinstance(accumulator.reply(), Reply)
        assert accumulator.items == len(chunks)


# -- through a guarded call ------------------------------------------------------------------


class Verdict(BaseModel):
    label: str


GUARDED = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# 50 generated examples each, plus @examples holding objects that raise as they are
# read: faults planted in the adapters' and the schema's guards were caught so in every
# seed tried. (The stream test keeps 150: no planted fault told what fewer would miss.)
@GUARDED
@given(ANY_RESPONSE)
@example(Exploding())
@example(Lying({"object": "chat.completion"}))
@example({"usage": Exploding(), "choices": [HugeInt(3)]})
def test_guard_without_schema_returns_any_response_untouched(response: object) -> None:
    """Whatever the function returns comes back as the very same object, and the call is
    recorded, with usage left unknown when it cannot be read."""

    @lg.guard
    def call(messages: Any) -> Any:
        return response

    with capture() as records:
        assert call([{"role": "user", "content": "hi"}]) is response
    (llm,) = [r for r in records if r.kind == "llm"]
    assert llm.status == "ok"


@GUARDED
@given(ANY_RESPONSE, st.sampled_from([None, 5]))
@example(Exploding(), None)
@example(Lying({"object": "chat.completion"}), 5)
@example(Lying({"type": "message", "content": []}), None)
def test_guard_with_schema_gives_a_value_or_its_own_decision(
    response: object, max_output_tokens: int | None
) -> None:
    """A schema over garbage gives a valid value or one of llmguard's decisions, recorded.

    ``None`` (and a `Failure`) is no answer at all: the function is at fault, and
    `BadReturn` says so at once, still recording the call.
    """

    @lg.guard(schema=Verdict, retries=1, max_output_tokens=max_output_tokens)
    def call(messages: Any, max_tokens: int | None = None) -> Any:
        return response

    with capture() as records:
        try:
            value = call([{"role": "user", "content": "hi"}])
        except (lg.GuardError, lg.LimitExceeded):
            pass
        except lg.BadReturn:
            assert response is None or isinstance(response, lg.Failure)
        else:
            assert isinstance(value, Verdict)
    assert [r.kind for r in records].count("llm") == 1


@settings(GUARDED, max_examples=150)
@given(st.lists(ANY_RESPONSE, max_size=6))
@example([Lying({"object": "chat.completion"}), Exploding(), HugeInt(7), math.nan])
def test_guarded_stream_of_garbage_passes_every_chunk_through(chunks: list[object]) -> None:
    """A guarded generator yielding garbage chunks gives the caller each chunk unchanged."""

    @lg.guard
    def stream(messages: Any) -> Iterator[object]:
        yield from chunks

    with capture() as records:
        received = list(stream([{"role": "user", "content": "hi"}]))
    assert len(received) == len(chunks)
    assert all(a is b for a, b in zip(received, chunks, strict=True))
    assert [r.kind for r in records].count("llm") == 1


@pytest.mark.parametrize("response", [Exploding(), Lying({"object": "chat.completion"})])
def test_hostile_response_is_recorded_with_unknown_usage(response: object) -> None:
    """An unreadable response is returned, and its record says usage is unknown."""

    @lg.guard
    def call(messages: Any) -> Any:
        return response

    with capture() as records:
        assert call([{"role": "user", "content": "hi"}]) is response
    (llm,) = [r for r in records if r.kind == "llm"]
    assert llm.usage is None


def test_schema_over_a_mapping_that_raises_gives_a_schema_violation() -> None:
    """A response mapping that raises when pydantic reads it is a SchemaViolation."""

    @lg.guard(schema=Verdict, retries=0)
    def call(messages: Any) -> Any:
        return Lying({"object": "chat.completion"})

    with pytest.raises(lg.SchemaViolation) as raised:
        call([{"role": "user", "content": "hi"}])
    (attempt,) = raised.value.attempts
    (error,) = attempt.errors
    assert error.path == "$"
    assert "could not be read: Boom" in error.message
