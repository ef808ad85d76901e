"""Counting the tokens of messages a serializer cannot read must not fail the call.

A guarded call with an input cap, or inside a budget, counts its messages before the
call. Content that ``json.dumps`` or ``str`` cannot turn into text -- a reference cycle,
a list nested past the recursion limit, an int of thousands of digits, an object whose
``__str__`` raises -- is counted as a short marker; the call goes ahead.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg


class Unprintable:
    """An object whose text cannot be had."""

    def __str__(self) -> str:
        raise RuntimeError("no text")

    __repr__ = __str__


def _cycle() -> dict[str, Any]:
    message: dict[str, Any] = {"role": "user"}
    message["content"] = message
    return message


def _deep() -> list[Any]:
    nested: list[Any] = ["x"]
    for _ in range(50_000):
        nested = [nested]
    return nested


HOSTILE = {
    "cycle": [{"role": "user", "content": "hi"}, _cycle()],
    "deep": [{"role": "user", "content": _deep()}],
    "huge int": [{"role": "user", "content": 10**5000}],
    "huge int part": [{"role": "user", "content": [10**5000]}],
    "unprintable": [{"role": "user", "content": [Unprintable()]}, Unprintable()],
    "deep arguments": [
        {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": _deep()}}]}
    ],
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_guarded_call_in_a_budget_goes_ahead_and_is_charged(name: str) -> None:
    """The input cap and the budget count the messages; the call returns and is charged."""
    seen: list[Any] = []

    @lg.guard(max_input_tokens=100_000, max_output_tokens=10, model="gpt-4o")
    def call(messages: list[Any], max_tokens: int | None = None) -> str:
        seen.append(messages)
        return "answer"

    with lg.budget(max_tokens=1_000_000) as spent:
        assert call(HOSTILE[name]) == "answer"
    assert len(seen) == 1
    assert (spent.calls, spent.reserved) == (1, 0)
    assert spent.used > 0


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_count_tokens_counts_what_it_cannot_serialize(name: str) -> None:
    """count_tokens itself returns a count for each of them."""
    assert lg.count_tokens(HOSTILE[name], model="gpt-4o") > 0


_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**6000), max_value=10**6000)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=20)
    | st.builds(Unprintable)
)
_values = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["role", "content", "name", "tool_calls", "function_call"]),
            _values,
        )
        | _values,
        max_size=4,
    )
)
def test_any_message_content_is_counted_without_raising(messages: list[Any]) -> None:
    """Whatever the messages hold, counting them gives a non-negative count."""
    assert lg.count_tokens(messages, model="gpt-4o") >= 0
