"""A stream read to its end whose ``close()`` then raises still delivered the whole
answer: it is judged on what it delivered, the call succeeds, and the close error is
kept in the attempt record's metadata (``stream_close_error``). A stream cut short keeps
the error that cut it, not the close's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import llmguard as lg
from tests._helpers.schemas import Ticket

GOOD = ['{"category": ', '"bug", "urgency": 2}']


class ClosingFails:
    """Text pieces, then ``close()`` raises; ``cut`` raises after that many pieces."""

    def __init__(self, pieces: list[str], cut: int | None = None) -> None:
        self.pieces = iter(pieces)
        self.cut = cut
        self.read = 0
        self.closed = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self.cut is not None and self.read == self.cut:
            raise ValueError("a chunk that cannot be decoded")
        self.read += 1
        return next(self.pieces)

    def close(self) -> None:
        self.closed += 1
        raise RuntimeError("connection pool already closed")


class AsyncClosingFails:
    def __init__(self, pieces: list[str]) -> None:
        self.pieces = iter(pieces)
        self.closed = 0

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        try:
            return next(self.pieces)
        except StopIteration:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self.closed += 1
        raise RuntimeError("connection pool already closed")


def _attempt_metadata(records: list[Any]) -> dict[str, Any]:
    [attempt] = [r for r in records if r.kind == "attempt"]
    assert attempt.status == "ok"
    return dict(attempt.metadata or {})


def test_a_fully_read_stream_whose_close_raises_is_judged_on_its_answer() -> None:
    stream = ClosingFails(GOOD)

    @lg.guard(schema=Ticket, retries=0)
    def triage(prompt: str) -> Any:
        return stream

    with lg.testing.capture() as records:
        assert triage("It crashes") == Ticket(category="bug", urgency=2)
    assert stream.closed == 1
    metadata = _attempt_metadata(records)
    assert metadata["stream_close_error"] == "RuntimeError: connection pool already closed"
    [llm] = [r for r in records if r.kind == "llm"]
    assert llm.status == "ok"


def test_an_async_fully_read_stream_whose_aclose_raises_is_judged_on_its_answer() -> None:
    stream = AsyncClosingFails(GOOD)

    @lg.guard(schema=Ticket, retries=0)
    async def triage(prompt: str) -> Any:
        return stream

    with lg.testing.capture() as records:
        assert asyncio.run(triage("It crashes")) == Ticket(category="bug", urgency=2)
    assert stream.closed == 1
    assert "stream_close_error" in _attempt_metadata(records)


def test_guard_stream_of_a_stream_whose_close_raises_gives_the_final_value() -> None:
    stream = ClosingFails(GOOD)

    def triage(prompt: str) -> Any:
        return stream

    with lg.testing.capture() as records:
        partials = list(lg.guard(schema=Ticket, retries=0).stream(triage, "It crashes"))
    assert partials[-1].final
    assert partials[-1].value == Ticket(category="bug", urgency=2)
    assert "stream_close_error" in _attempt_metadata(records)


def test_async_guard_stream_of_a_stream_whose_aclose_raises_gives_the_final_value() -> None:
    stream = AsyncClosingFails(GOOD)

    async def triage(prompt: str) -> Any:
        return stream

    async def read() -> list[Any]:
        return [p async for p in lg.guard(schema=Ticket, retries=0).stream(triage, "x")]

    with lg.testing.capture() as records:
        partials = asyncio.run(read())
    assert partials[-1].value == Ticket(category="bug", urgency=2)
    assert "stream_close_error" in _attempt_metadata(records)


def test_a_stream_cut_short_keeps_the_error_that_cut_it() -> None:
    """The read's error, not the close's, is what the call raises and records."""
    stream = ClosingFails(GOOD, cut=1)

    @lg.guard(schema=Ticket, retries=0)
    def triage(prompt: str) -> Any:
        return stream

    with lg.testing.capture() as records, pytest.raises(ValueError, match="cannot be decoded"):
        triage("It crashes")
    [attempt] = [r for r in records if r.kind == "attempt"]
    assert attempt.error_type == "ValueError"
