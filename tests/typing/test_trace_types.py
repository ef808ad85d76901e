"""@lg.trace keeps signatures and return types; lg.span and lg.flush are typed.

Checked by ``mypy --strict`` (tests/test_typing.py runs it); the functions also run
under pytest, so every example is exercised as well as type-checked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any

from typing_extensions import assert_type

import llmguard as lg


@lg.trace
def double(x: int) -> int:
    return x * 2


@lg.trace(name="greeting", kind="llm", model="m")
def greet(name: str, *, punctuation: str = "!") -> str:
    return f"hello {name}{punctuation}"


@lg.trace
async def fetch(url: str, retries: int = 1) -> bytes:
    return url.encode() * retries


@lg.trace(name="fetch-many")
async def fetch_many(urls: list[str]) -> list[bytes]:
    return [await fetch(u) for u in urls]


@lg.trace
def count(n: int) -> Iterator[int]:
    yield from range(n)


@lg.trace
async def acount(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


class Assistant:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @lg.trace
    def answer(self, question: str) -> str:
        return self.prefix + question

    @lg.trace(name="assistant.aanswer")
    async def aanswer(self, question: str, tries: int = 1) -> list[str]:
        return [self.prefix + question] * tries


def test_trace_keeps_a_sync_signature() -> None:
    """@lg.trace and @lg.trace(...) keep a plain function's parameters and return type."""
    assert_type(double(2), int)
    assert_type(greet("ada", punctuation="?"), str)
    assert double(2) == 4
    assert greet("ada", punctuation="?") == "hello ada?"


async def test_trace_keeps_an_async_signature() -> None:
    """A traced coroutine function still returns a coroutine of the same result type."""
    pending = fetch("u")
    assert await assert_type(pending, Coroutine[Any, Any, bytes]) == b"u"
    assert_type(await fetch("u", retries=2), bytes)
    assert_type(await fetch_many(["a", "b"]), list[bytes])
    assert await fetch("u", retries=2) == b"uu"


async def test_trace_keeps_generator_types() -> None:
    """Traced generators and async generators keep their item types."""
    assert_type(count(3), Iterator[int])
    assert_type(acount(3), AsyncIterator[int])
    assert list(count(3)) == [0, 1, 2]
    assert [i async for i in acount(2)] == [0, 1]


async def test_trace_keeps_a_method_signature() -> None:
    """A traced method binds self and keeps its parameters and return type."""
    bot = Assistant("> ")
    assert_type(bot.answer("hi"), str)
    assert_type(await bot.aanswer("hi", tries=2), list[str])
    assert bot.answer("hi") == "> hi"
    assert await bot.aanswer("hi", tries=2) == ["> hi", "> hi"]


def test_span_returns_a_span() -> None:
    """lg.span(...) is an lg.Span, and so is what its with statement binds."""
    opened = lg.span("step", k=1)
    assert_type(opened, lg.Span)
    with opened as bound:
        assert_type(bound, lg.Span)
        assert bound is opened
        assert_type(lg.current_span(), lg.Span | None)
        assert_type(lg.current_trace_id(), str | None)


def test_flush_returns_a_flush_result() -> None:
    """lg.flush() and lg.shutdown() return an lg.types.FlushResult."""
    result = lg.flush(timeout=1.0)
    assert_type(result, lg.types.FlushResult)
    assert_type(lg.shutdown(), lg.types.FlushResult)
    assert isinstance(result, lg.types.FlushResult)
