"""A hostile stream that repeats a tool call's name in every delta: Chat Completions names
are joined like arguments, and joining them one string at a time took quadratic time
(200,000 deltas: 47 s on a busy machine). Reading along must stay linear."""

from __future__ import annotations

from typing import Any

from llmguard.adapters import OpenAIChatStream
from tests._helpers.reliability import cpu_seconds

SMALL = 25_000


def _deltas(count: int) -> list[dict[str, Any]]:
    piece = {"index": 0, "function": {"name": "lookup__", "arguments": "1"}}
    choice = {"index": 0, "delta": {"tool_calls": [piece]}, "finish_reason": None}
    chunk = {"object": "chat.completion.chunk", "id": "c", "model": "m", "choices": [choice]}
    return [chunk] * count


def _read(chunks: list[dict[str, Any]]) -> str:
    stream = OpenAIChatStream()
    for chunk in chunks:
        stream.feed(chunk)
    (call,) = stream.reply().tool_calls
    return call.name


def test_a_name_repeated_in_every_delta_is_read_in_linear_time() -> None:
    small, large = _deltas(SMALL), _deltas(8 * SMALL)
    names: list[str] = []
    # One run of each is enough: with the name grown one string at a time this test
    # failed by far (84 s for the large run, against about 1.5 s now). The small run's
    # time is a single measure, so noise in it only loosens the bound.
    small_seconds = cpu_seconds(lambda: names.append(_read(small)))
    assert names == ["lookup__" * SMALL]
    large_seconds = cpu_seconds(lambda: _read(large))
    # Eight times the deltas: at most about eight times the work (25x allowed for noise).
    assert large_seconds <= 25 * small_seconds + 0.05, (small_seconds, large_seconds)
