"""Counting content with one unreadable piece: the readable rest still counts.

Session 11 made content no serializer can read count as a marker. The fallback turned
the whole value into one marker when a single leaf was the problem: tool-call
arguments of 8,000 words with one 5,000-digit int among them counted 14 tokens, so an
input cap or a budget let them through as nearly free.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg

HUGE = 10**5000
TEXT = "hello world " * 500


@pytest.fixture
def seen() -> Iterator[list[str]]:
    """Every text handed to the tokenizer (one token a character)."""
    texts: list[str] = []

    def tokenizer(text: str) -> int:
        texts.append(text)
        return len(text)

    lg.configure(tokenizer=tokenizer)
    try:
        yield texts
    finally:
        lg.reset()


def _openai(arguments: Any) -> list[dict[str, Any]]:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    return [{"role": "assistant", "content": None, "tool_calls": [call]}]


def _anthropic(arguments: Any) -> list[dict[str, Any]]:
    block = {"type": "tool_use", "id": "t1", "name": "f", "input": arguments}
    return [{"role": "assistant", "content": [block]}]


SHAPES = {"openai-tool-call": _openai, "anthropic-tool-use": _anthropic}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_an_unreadable_leaf_leaves_the_readable_arguments_counted(
    shape: str, seen: list[str]
) -> None:
    """A huge int beside a long text: the text is still handed to the tokenizer."""
    messages = SHAPES[shape]
    readable = lg.count_tokens(messages({"a": {"b": [TEXT, 1]}}), model="gpt-4o")
    seen.clear()
    hostile = lg.count_tokens(messages({"a": {"b": [TEXT, HUGE]}}), model="gpt-4o")
    assert hostile >= readable > len(TEXT)
    assert any(TEXT in text for text in seen)


def test_the_fallback_hands_the_tokenizer_text_in_proportion_to_the_content(
    seen: list[str],
) -> None:
    """Four times the items, with a huge int and a cycle at the end: four times the text."""
    sizes = []
    for items in (500, 2000):
        arguments: list[Any] = [{"k": "word " * 10} for _ in range(items)]
        arguments += [HUGE, arguments]
        seen.clear()
        lg.count_tokens(_openai(arguments), model="gpt-4o")
        sizes.append(sum(map(len, seen)))
    small, large = sizes
    assert small > 500 * 50
    assert 3.5 * small <= large <= 4.5 * small


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=25,
)


@settings(max_examples=40, deadline=None)
@given(value=_json_values, shape=st.sampled_from(sorted(SHAPES)))
def test_adding_an_unreadable_leaf_never_lowers_the_count(value: Any, shape: str) -> None:
    """count(args + a huge int) >= count(args): the readable part is never lost."""
    messages = SHAPES[shape]
    plain = lg.count_tokens(messages({"v": value, "n": 0}), model="gpt-4o")
    hostile = lg.count_tokens(messages({"v": value, "n": HUGE}), model="gpt-4o")
    assert hostile >= plain
    assert json.dumps(value)  # the readable part really is JSON


@settings(max_examples=30, deadline=None)
@given(value=_json_values, shape=st.sampled_from(sorted(SHAPES)))
def test_only_the_unreadable_leaf_becomes_a_marker(value: Any, shape: str) -> None:
    """The text counted for args holding a huge int is that of args holding "<int>" there."""
    texts: list[str] = []
    lg.configure(tokenizer=lambda text: texts.append(text) or len(text))
    try:
        messages = SHAPES[shape]
        lg.count_tokens(messages({"v": value, "n": HUGE}), model="gpt-4o")
        hostile, texts[:] = list(texts), []
        lg.count_tokens(messages({"v": value, "n": "<int>"}), model="gpt-4o")
    finally:
        lg.reset()
    assert hostile == texts
