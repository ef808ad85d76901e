"""Tests for _tracing.stepping: decorated generators stepped under @lg.trace and @lg.budget."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any

import pytest

import llmguard as lg
from llmguard._spend.budgets import active
from llmguard.testing import capture


def test_generator_exhausted_records_items_and_children() -> None:
    """A traced generator's span ends at exhaustion with the item count; inner spans nest."""

    @lg.trace
    def numbers(n: int) -> Iterator[int]:
        for i in range(n):
            with lg.span("produce"):
                pass
            yield i

    with capture() as records:
        assert list(numbers(3)) == [0, 1, 2]
    gen_record = next(r for r in records if r.name.endswith("numbers"))
    assert gen_record.stream == lg.types.StreamInfo(items=3, end="exhausted")
    assert all(r.parent_id == gen_record.span_id for r in records if r.name == "produce")


def test_generator_does_not_leak_its_span_to_the_consumer() -> None:
    """Between items, the consumer's code does not run inside the generator's span."""

    @lg.trace
    def numbers() -> Iterator[int]:
        yield 1
        yield 2

    seen = []
    with capture():
        for _ in numbers():
            seen.append(lg.current_span())
    assert seen == [None, None]


def test_generator_closed_halfway_still_records() -> None:
    """A generator read halfway then closed ends its span, recording items delivered."""

    @lg.trace
    def numbers() -> Iterator[int]:
        yield from range(10)

    with capture() as records:
        gen = numbers()
        next(gen)
        next(gen)
        gen.close()
    assert records[0].stream == lg.types.StreamInfo(items=2, end="closed")
    assert records[0].status == "ok"


def test_generator_dropped_without_closing_still_records() -> None:
    """A generator dropped mid-way is finished by garbage collection, with its count."""

    @lg.trace
    def numbers() -> Iterator[int]:
        yield from range(10)

    with capture() as records:
        gen = numbers()
        for _ in range(3):
            next(gen)
        del gen
        gc.collect()
    assert records[0].stream == lg.types.StreamInfo(items=3, end="closed")


def test_generator_never_started_records_nothing() -> None:
    """Creating a generator that is never iterated opens no span."""

    @lg.trace
    def numbers() -> Iterator[int]:
        yield 1

    with capture() as records:
        numbers()
        gc.collect()
    assert records == []


def test_generator_send_throw_and_return_value_pass_through() -> None:
    """send() and throw() reach the inner generator; its return value comes back."""

    @lg.trace
    def echo() -> Iterator[object]:
        received: object = None
        while True:
            try:
                received = yield received
            except KeyError:
                received = "caught"
            if received == "stop":
                return "finished"

    def drive() -> Iterator[object]:
        return (yield from echo())

    with capture() as records:
        gen = echo()
        assert next(gen) is None
        assert gen.send("hi") == "hi"
        assert gen.throw(KeyError("k")) == "caught"
        with pytest.raises(StopIteration) as stopped:
            gen.send("stop")
    assert stopped.value.value == "finished"
    assert records[0].stream == lg.types.StreamInfo(items=3, end="exhausted")
    assert drive is not None


def test_generator_error_is_recorded() -> None:
    """An exception inside a traced generator ends its span as an error and propagates."""

    @lg.trace
    def broken() -> Iterator[int]:
        yield 1
        raise RuntimeError("boom")

    with capture() as records, pytest.raises(RuntimeError, match="boom"):
        list(broken())
    assert records[0].stream == lg.types.StreamInfo(items=1, end="error")
    assert records[0].error_type == "RuntimeError"


async def test_async_generator_exhausted_and_closed() -> None:
    """Async generators record items when exhausted and when closed early."""

    @lg.trace
    async def ticks(n: int) -> AsyncIterator[int]:
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    with capture() as records:
        assert [i async for i in ticks(3)] == [0, 1, 2]
        partial = ticks(5)
        await partial.__anext__()
        await partial.aclose()
    assert [r.stream for r in records] == [
        lg.types.StreamInfo(items=3, end="exhausted"),
        lg.types.StreamInfo(items=1, end="closed"),
    ]


async def test_async_generator_cancelled() -> None:
    """Cancelling a task that is reading a traced async generator ends its span."""
    started = asyncio.Event()

    @lg.trace
    async def slow() -> AsyncIterator[int]:
        yield 1
        started.set()
        await asyncio.sleep(10)
        yield 2

    async def consume() -> None:
        async for _ in slow():
            pass

    with capture() as records:
        task = asyncio.create_task(consume())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert records[0].stream == lg.types.StreamInfo(items=1, end="cancelled")
    assert records[0].error_type == "asyncio.exceptions.CancelledError"


def test_decorated_generators_have_the_budget_only_while_they_run() -> None:
    """A generator's steps run inside the budget; its consumer, between items, does not."""
    b = lg.budget(max_tokens=100)
    seen: list[Any] = []

    @b
    def produce() -> Generator[int, Any, None]:
        assert active() == (b,)
        try:
            received = yield 1
            seen.append(received)
        except KeyError:
            seen.append("thrown")
        assert active() == (b,)
        try:
            yield 2
        finally:
            seen.append(("closing", active()))

    gen = produce()
    assert active() == ()
    assert next(gen) == 1
    assert active() == ()
    assert gen.throw(KeyError()) == 2
    gen.close()
    assert active() == ()
    assert seen == ["thrown", ("closing", (b,))]

    gen = produce()
    assert next(gen) == 1
    assert gen.send("hello") == 2
    with pytest.raises(StopIteration):
        next(gen)
    assert seen[-2:] == ["hello", ("closing", (b,))]


def test_decorated_generators_return_their_value() -> None:
    """The generator's return value reaches `yield from` and StopIteration."""
    b = lg.budget()

    @b
    def produce() -> Generator[int, None, str]:
        yield 1
        return "done"

    def outer() -> Iterator[int]:
        result = yield from produce()
        assert result == "done"

    assert list(outer()) == [1]


def test_an_exception_in_a_decorated_generator_propagates() -> None:
    """An exception raised by the generator reaches its consumer unchanged."""

    @lg.budget()
    def produce() -> Iterator[int]:
        yield 1
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        list(produce())
    assert active() == ()


async def test_decorated_async_generators_have_the_budget_only_while_they_run() -> None:
    """The same for async generators: asend, athrow, aclose and exhaustion."""
    b = lg.budget(max_tokens=100)
    seen: list[Any] = []

    @b
    async def produce() -> AsyncIterator[int]:
        assert active() == (b,)
        try:
            received = yield 1
            seen.append(received)
        except KeyError:
            seen.append("thrown")
        await asyncio.sleep(0)
        try:
            yield 2
        finally:
            seen.append(("closing", active()))

    agen: Any = produce()
    assert await agen.__anext__() == 1
    assert active() == ()
    assert await agen.athrow(KeyError()) == 2
    await agen.aclose()
    assert seen == ["thrown", ("closing", (b,))]

    agen = produce()
    assert await agen.__anext__() == 1
    assert await agen.asend("hello") == 2
    with pytest.raises(StopAsyncIteration):
        await agen.__anext__()
    assert seen[-2:] == ["hello", ("closing", (b,))]
    assert [x async for x in produce()] == [1, 2]
    assert active() == ()
