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
    assert _read(small) == "lookup__" * SMALL
    fastest_small = min(cpu_seconds(lambda: _read(small)) for _ in range(2))
    # One large run is enough: with the name grown one string at a time this test
    # failed by far (84 s for it, against about 1.5 s now).
    fastest_large = cpu_seconds(lambda: _read(large))
    # Eight times the deltas: at most about eight times the work (25x allowed for noise).
    assert fastest_large <= 25 * fastest_small + 0.05, (fastest_small, fastest_large)
