"""A guarded stream whose chunks the adapter cannot read still ends in an ``llm`` record.

The first chunk chose the Anthropic accumulator; putting the reply together at the end
read the hostile message and raised, and the record was never written.
"""

from __future__ import annotations

from typing import Any

import pytest

import llmguard as lg
from llmguard.testing import capture


class Exploding:
    """An object every attribute read of which raises."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise RuntimeError(name)


@pytest.mark.parametrize(
    "chunks",
    [
        [{"type": "message_start", "message": Exploding()}],
        [{"type": "message_start", "message": {"model": "m"}}, Exploding()],
    ],
)
def test_a_stream_the_adapter_cannot_put_together_is_still_recorded(chunks: list[Any]) -> None:
    @lg.guard
    def stream(messages: Any) -> Any:
        yield from chunks

    with capture() as records:
        got = list(stream([{"role": "user", "content": "hi"}]))

    assert got == chunks
    calls = [r for r in records if r.kind == "llm"]
    assert len(calls) == 1
    assert calls[0].stream is not None
    assert calls[0].stream.items == len(chunks)
    assert calls[0].stream.end == "exhausted"


def test_a_schema_over_such_a_stream_decides_as_for_no_answer() -> None:
    chunks = [{"type": "message_start", "message": Exploding()}]
    calls = 0

    @lg.guard(schema=dict[str, int], retries=1)
    def ask(messages: Any) -> Any:
        nonlocal calls
        calls += 1
        return iter(chunks)

    with capture() as records, pytest.raises(lg.GuardError) as raised:
        ask([{"role": "user", "content": "hi"}])

    assert not isinstance(raised.value, RuntimeError)
    assert calls == 2  # the unreadable answer was re-asked once, as no answer is
    assert [r.kind for r in records].count("llm") == 1
    assert [r.kind for r in records].count("attempt") == 2


def test_guard_stream_over_such_a_stream_ends_in_the_guards_own_error() -> None:
    chunks = [{"type": "message_start", "message": Exploding()}]

    def ask(messages: Any) -> Any:
        return iter(chunks)

    guard = lg.guard(schema=dict[str, int], retries=0)
    with capture() as records, pytest.raises(lg.GuardError):
        list(guard.stream(ask, [{"role": "user", "content": "hi"}]))

    assert [r.kind for r in records].count("llm") == 1
