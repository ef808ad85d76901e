"""A hostile stream that repeats a tool call's name in every delta: Chat Completions names
are joined like arguments, and joining them one string at a time took quadratic time
(200,000 deltas: 47 s on a busy machine). Reading along must stay linear."""

from __future__ import annotations

from typing import Any

from llmguard.adapters import OpenAIChatStream
from tests._helpers.reliability import cpu_seconds

SMALL = 2_000
# A long piece of name in each delta: growing the name one string at a time copies it
# whole every delta, so the quadratic cost grows with the piece's length while the
# per-delta reading does not. Few deltas are then enough to tell the two apart.
PIECE = "lookup__" * 32


def _deltas(count: int) -> list[dict[str, Any]]:
    piece = {"index": 0, "function": {"name": PIECE, "arguments": "1"}}
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
    # fails by far (the large run's copying alone is about 30 times the small run's
    # time). The small run's time is a single measure, so noise in it only loosens
    # the bound.
    small_seconds = cpu_seconds(lambda: names.append(_read(small)))
    assert names == [PIECE * SMALL]
    large_seconds = cpu_seconds(lambda: _read(large))
    # Eight times the deltas: at most about eight times the work (25x allowed for noise).
    assert large_seconds <= 25 * small_seconds + 0.05, (small_seconds, large_seconds)
