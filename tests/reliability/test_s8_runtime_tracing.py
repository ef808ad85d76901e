"""Review attacks on tracing: values and exceptions that fight being captured.

The promise (docs/tracing.md, the reliability contract): the traced function's return
value and exceptions are exactly what they would be without llmguard, whatever the
values it takes or returns do when they are measured, copied or printed.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

import llmguard as lg
from llmguard.testing import capture
from tests.conftest import ListSink


class LengthRaises(str):
    """A string whose ``__len__`` raises (a lazy or proxied text, say)."""

    def __len__(self) -> int:
        raise RuntimeError("no length")


class IterationRaises(set[int]):
    """A set whose iteration raises (pydantic-core panics on it instead of raising)."""

    def __iter__(self) -> Iterator[int]:
        raise RuntimeError("no iteration")


class MessageIsHostile(Exception):
    """An exception whose message is a string that cannot be measured."""

    def __str__(self) -> str:
        return LengthRaises("hostile message")


HOSTILE = [
    pytest.param(lambda: LengthRaises("a secret text"), id="str-len-raises"),
    pytest.param(lambda: IterationRaises({1, 2}), id="set-iter-raises"),
    pytest.param(lambda: {"nested": [LengthRaises("x")]}, id="nested-str-len-raises"),
    pytest.param(lambda: [IterationRaises({3})], id="nested-set-iter-raises"),
]


@pytest.mark.parametrize("make", HOSTILE)
def test_a_hostile_argument_or_result_never_reaches_the_call(
    sink: ListSink, make: Callable[[], Any]
) -> None:
    """The call returns its own result and the span is delivered, content or not."""
    value = make()

    @lg.trace
    def echo(x: Any) -> Any:
        return x

    assert echo(value) is value
    assert lg.flush(timeout=10).complete
    [record] = sink.records
    assert record.name.endswith("echo")
    assert record.status == "ok"


@pytest.mark.parametrize("make", HOSTILE)
def test_a_hostile_value_in_a_generator_or_coroutine_never_reaches_the_call(
    sink: ListSink, make: Callable[[], Any]
) -> None:
    """Generators, coroutines and async generators behave as undecorated too."""
    value = make()

    @lg.trace
    def items(x: Any) -> Iterator[Any]:
        yield x

    @lg.trace
    async def coro(x: Any) -> Any:
        return x

    @lg.trace
    async def aitems(x: Any) -> AsyncIterator[Any]:
        yield x

    async def drain() -> list[Any]:
        return [item async for item in aitems(value)]

    assert list(items(value)) == [value]
    assert asyncio.run(coro(value)) is value
    assert asyncio.run(drain()) == [value]
    assert lg.flush(timeout=10).complete
    assert len(sink.records) == 3
    assert {r.status for r in sink.records} == {"ok"}


@pytest.mark.parametrize("make", HOSTILE)
def test_span_methods_never_raise_over_a_hostile_value(
    sink: ListSink, make: Callable[[], Any]
) -> None:
    """``set_input``, ``set_output`` and attributes take any value without raising."""
    value = make()
    with lg.span("by-hand", attr=value) as span:
        span.set_input(value)
        span.set_output(value)
        span.set_attribute("again", value)
    assert lg.flush(timeout=10).complete
    assert [r.name for r in sink.records] == ["by-hand"]


def test_an_exception_with_a_hostile_message_is_raised_unchanged(sink: ListSink) -> None:
    """The caller gets the function's own exception, and the record its message."""

    @lg.trace
    def fails() -> None:
        raise MessageIsHostile

    with pytest.raises(MessageIsHostile):
        fails()
    with pytest.raises(MessageIsHostile), lg.span("block"):
        raise MessageIsHostile
    assert lg.flush(timeout=10).complete
    assert [(r.status, r.error_message) for r in sink.records] == [
        ("error", "hostile message"),
        ("error", "hostile message"),
    ]


def _parents(records: list[lg.Record]) -> dict[str, str | None]:
    names = {r.span_id: r.name for r in records}
    return {r.name: names.get(r.parent_id or "") for r in records}


def test_a_span_open_across_a_yield_stays_the_parent_after_it() -> None:
    """Inside a traced generator, a ``with lg.span`` around a ``yield`` is still the
    current span when the generator resumes; the consumer's spans never see it."""

    @lg.trace(name="pages")
    def pages() -> Iterator[int]:
        with lg.span("fetching"):
            yield 1
            with lg.span("after-first-yield"):
                pass
            yield 2

    with capture() as records, lg.span("consumer"):
        for page in pages():
            with lg.span(f"read-{page}"):
                pass
    assert _parents(records) == {
        "read-1": "consumer",
        "after-first-yield": "fetching",
        "read-2": "consumer",
        "fetching": "pages",
        "pages": "consumer",
        "consumer": None,
    }


def test_a_span_open_across_a_yield_in_an_async_generator_stays_the_parent() -> None:
    """The same for async generators."""

    @lg.trace(name="pages")
    async def pages() -> AsyncIterator[int]:
        async with lg.span("fetching"):
            yield 1
            with lg.span("after-first-yield"):
                pass
            yield 2

    async def consume() -> None:
        with lg.span("consumer"):
            async for page in pages():
                with lg.span(f"read-{page}"):
                    pass

    with capture() as records:
        asyncio.run(consume())
    assert _parents(records) == {
        "read-1": "consumer",
        "after-first-yield": "fetching",
        "read-2": "consumer",
        "fetching": "pages",
        "pages": "consumer",
        "consumer": None,
    }


def test_an_iterator_returned_is_handed_over_unread(sink: ListSink) -> None:
    """A traced function returning a generator, a ``map`` or an ``iter()`` gives the
    caller every item: capture never reads an iterator (it read them all before)."""

    @lg.trace
    def rows() -> Iterator[int]:
        return (i for i in range(3))

    @lg.trace
    def mapped() -> Iterator[str]:
        return map(str, range(3))

    @lg.trace
    def listed() -> Iterator[int]:
        return iter([1, 2, 3])

    assert list(rows()) == [0, 1, 2]
    assert list(mapped()) == ["0", "1", "2"]
    assert list(listed()) == [1, 2, 3]
    assert lg.flush(timeout=10).complete
    assert [r.output for r in sink.records] == ["<generator>", "<map>", "<list_iterator>"]


def test_an_iterator_passed_in_is_left_for_the_function(sink: ListSink) -> None:
    """An iterator argument reaches the function unread, by position or keyword."""

    @lg.trace
    def total(numbers: Iterator[int], *, more: Iterator[int]) -> int:
        return sum(numbers) + sum(more)

    assert total((i for i in range(4)), more=iter([10])) == 16
    assert lg.flush(timeout=10).complete
    [record] = sink.records
    assert record.input == {"numbers": "<generator>", "more": "<list_iterator>"}


def test_an_endless_iterator_returned_does_not_hang_the_call(sink: ListSink) -> None:
    """``itertools.count()`` returned from a traced function: the call returns (capture
    read it forever, growing without bound)."""

    @lg.trace
    def numbers() -> Iterator[int]:
        return itertools.count()

    counted = numbers()
    assert [next(counted) for _ in range(3)] == [0, 1, 2]


def test_an_iterator_deep_in_an_argument_is_left_for_the_function(sink: ListSink) -> None:
    """An iterator a few levels into an argument or a result (``{"rows": {"now":
    gen}}``) is named, not read: capture's copy by pydantic-core read it to its end,
    so the function got it empty."""

    @lg.trace
    def total(batch: dict[str, Any]) -> dict[str, Any]:
        return {"sum": sum(batch["rows"]["now"]), "later": [{"rest": iter([7, 8])}]}

    answer = total({"rows": {"now": (i for i in range(4))}, "seen": {1, 2}})
    assert answer["sum"] == 6
    assert list(answer["later"][0]["rest"]) == [7, 8]
    assert lg.flush(timeout=10).complete
    [record] = sink.records
    assert record.input == {"batch": {"rows": {"now": "<generator>"}, "seen": [1, 2]}}
    assert record.output == {"sum": 6, "later": [{"rest": "<list_iterator>"}]}


def test_an_iterator_inside_a_shared_or_cyclic_structure_is_named_once(sink: ListSink) -> None:
    """A structure that shares one list many times over, or holds itself: every path
    to the iterator names it, and the cycle ends the walk."""
    shared: list[Any] = [iter([1])]
    wide: list[Any] = [shared] * 50
    wide = [wide] * 50  # 50**2 paths to the iterator, 3 lists
    looped: list[Any] = [{1}]
    looped.append(looped)

    @lg.trace
    def take(value: Any, other: Any) -> int:
        return 1

    assert take(wide, looped) == 1
    assert lg.flush(timeout=10).complete
    [record] = sink.records
    assert record.input is not None
    assert record.input["value"][0][0] == record.input["value"][1][2] == ["<list_iterator>"]
    assert record.input["other"][0] == [1]


def test_an_object_among_plain_data_is_copied_alone(sink: ListSink) -> None:
    """A chat history holding an SDK message object (a pydantic model) and a datetime
    is captured with the object as its JSON and the rest as it is; an iterator beside
    them is named."""
    import datetime

    from openai.types.chat import ChatCompletionMessage

    said = ChatCompletionMessage(role="assistant", content="It was charged twice.")
    history: list[Any] = [
        {"role": "user", "content": "Why?"},
        said,
        {"role": "user", "content": "When?", "at": datetime.datetime(2026, 12, 7, 12, 0)},
    ]

    @lg.trace
    def ask(messages: list[Any], pages: Any) -> int:
        return len(list(pages))

    assert ask(history, iter([1, 2])) == 2
    assert lg.flush(timeout=10).complete
    [record] = sink.records
    messages = record.input["messages"]
    assert messages[0] == {"role": "user", "content": "Why?"}
    assert messages[1]["role"] == "assistant"
    assert messages[1]["content"] == "It was charged twice."
    assert messages[2]["at"] == "2026-12-07T12:00:00"
    assert record.input["pages"] == "<list_iterator>"
