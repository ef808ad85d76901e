"""Spans, @lg.trace and context propagation."""

from __future__ import annotations

import asyncio
import gc
import inspect
import re
import threading
from collections.abc import AsyncIterator, Iterator

import pydantic
import pytest

import llmguard as lg
from llmguard.testing import capture


def by_name(records: list[lg.Record]) -> dict[str, lg.Record]:
    return {r.name: r for r in records}


def test_span_records_name_attributes_and_timing() -> None:
    """A span's record holds its name, attributes as metadata, and a positive duration."""
    with capture() as records, lg.span("retrieve", k=5, source="kb") as s:
        s.set_attribute("hits", [1, 2])
    (record,) = records
    assert record.name == "retrieve"
    assert record.kind == "span"
    assert record.status == "ok"
    assert record.metadata == {"k": 5, "source": "kb", "hits": [1, 2]}
    assert record.duration_ms > 0
    assert record.start <= record.end
    assert record.parent_id is None


def test_ids_are_w3c_shaped() -> None:
    """Trace ids are 32 hex digits and span ids 16, never all zeros."""
    with capture() as records, lg.span("a") as s:
        assert lg.current_trace_id() == s.trace_id
    assert re.fullmatch(r"[0-9a-f]{32}", records[0].trace_id)
    assert re.fullmatch(r"[0-9a-f]{16}", records[0].span_id)
    assert records[0].trace_id != "0" * 32


def test_nested_spans_share_trace_and_link_parents() -> None:
    """A span opened inside another is its child in the same trace."""
    with capture() as records:
        with lg.span("outer") as outer, lg.span("inner") as inner:
            assert lg.current_span() is inner
        assert lg.current_span() is None
    found = by_name(records)
    assert found["inner"].parent_id == outer.span_id
    assert found["inner"].trace_id == found["outer"].trace_id
    assert inner.parent_id == outer.span_id


def test_record_fields_come_from_attributes_of_the_same_name() -> None:
    """Attributes named like record fields fill those fields, not metadata."""
    with capture() as records, lg.span("call", model="gpt-4o", tags=["a", "b"]) as s:
        s.set_attribute("usage", lg.Usage(input=3, output=4, total=7))
        s.set_attribute("prompt_version", "v1")
    (record,) = records
    assert record.model == "gpt-4o"
    assert record.tags == ("a", "b")
    assert record.usage == lg.Usage(input=3, output=4, total=7)
    assert record.prompt_version == "v1"
    assert record.metadata == {}


def test_attribute_values_are_copied_when_set() -> None:
    """Mutating a value after setting it does not change the record."""
    docs = ["d1"]
    with capture() as records, lg.span("s", docs=docs):
        docs.append("d2")
    assert records[0].metadata["docs"] == ["d1"]


def test_span_records_exception_and_reraises_it_unchanged() -> None:
    """An exception leaving a span marks it failed and propagates as the same object."""
    error = KeyError("missing")
    with capture() as records, pytest.raises(KeyError) as raised, lg.span("s"):
        raise error
    assert raised.value is error
    assert records[0].status == "error"
    assert records[0].error_type == "KeyError"
    assert records[0].error_message == "'missing'"


def test_set_status_rejects_unknown_status() -> None:
    """set_status names the allowed values when given another."""
    with lg.span("s") as s, pytest.raises(lg.ConfigurationError, match="'done'"):
        s.set_status("done")  # type: ignore[arg-type]


def test_set_status_limit_with_message() -> None:
    """A span can end with status limit and a message."""
    with capture() as records, lg.span("s") as s:
        s.set_status("limit", "too many steps")
    assert (records[0].status, records[0].error_message) == ("limit", "too many steps")


async def test_async_span() -> None:
    """``async with lg.span`` opens and ends a span like ``with``."""
    with capture() as records:
        async with lg.span("a") as outer, lg.span("b"):
            await asyncio.sleep(0)
    assert by_name(records)["b"].parent_id == outer.span_id


def test_span_name_is_checked() -> None:
    """An empty span name is a ConfigurationError."""
    with pytest.raises(lg.ConfigurationError, match="non-empty string"):
        lg.span("")


def test_trace_records_arguments_result_and_qualname() -> None:
    """@lg.trace names the span after the function and captures arguments and result."""

    @lg.trace
    def add(a: int, b: int = 2, *rest: int, **extra: int) -> int:
        return a + b + sum(rest) + sum(extra.values())

    with capture() as records:
        assert add(1, 2, 3, z=4) == 10
    (record,) = records
    assert record.name.endswith("add")
    assert record.input == {"a": 1, "b": 2, "*args": [3], "z": 4}
    assert record.output == 10


def test_trace_with_name_kind_and_attributes() -> None:
    """@lg.trace(name=..., kind=..., **attributes) sets them on every span."""

    @lg.trace(name="search", kind="tool", provider="local")
    def search(q: str) -> list[str]:
        return [q]

    with capture() as records:
        search("x")
    assert (records[0].name, records[0].kind, records[0].provider) == ("search", "tool", "local")


def test_trace_rejects_bad_options_at_decoration_time() -> None:
    """Misuse of @lg.trace fails when decorating, naming what is wrong."""
    with pytest.raises(lg.ConfigurationError, match="kind"):
        lg.trace(kind="banana")  # type: ignore[call-overload]
    with pytest.raises(lg.ConfigurationError, match="name"):
        lg.trace(name="")
    with pytest.raises(lg.ConfigurationError, match="needs a function"):
        lg.trace(42)  # type: ignore[call-overload]


def test_trace_reraises_exceptions_unchanged() -> None:
    """A traced function's exception keeps its identity and its span records it."""
    error = ValueError("bad")

    @lg.trace
    def fail() -> None:
        raise error

    with capture() as records, pytest.raises(ValueError, match="bad") as raised:
        fail()
    assert raised.value is error
    assert records[0].error_type == "ValueError"
    assert records[0].status == "error"


def test_trace_keeps_signature_and_kind() -> None:
    """The decorated function keeps its signature, __wrapped__ and coroutine-ness."""

    async def fetch(url: str, *, retries: int = 0) -> str:
        return url

    async def chunks() -> AsyncIterator[int]:
        yield 1

    traced = lg.trace(fetch)
    assert inspect.signature(traced) == inspect.signature(fetch)
    assert traced.__wrapped__ is fetch  # type: ignore[attr-defined]
    assert inspect.iscoroutinefunction(traced)
    assert inspect.isasyncgenfunction(lg.trace(chunks))
    assert traced.__name__ == "fetch"


def test_trace_on_methods_classmethods_and_staticmethods() -> None:
    """Methods bind as usual and ``self``/``cls`` is not captured as input."""

    class Bot:
        factor = 3

        @lg.trace
        def scale(self, x: int) -> int:
            return x * self.factor

        @lg.trace
        @classmethod
        def make(cls, x: int) -> int:
            return x * cls.factor

        @lg.trace
        @staticmethod
        def plain(x: int) -> int:
            return x

    with capture() as records:
        assert Bot().scale(2) == 6
        assert Bot.make(2) == 6
        assert Bot.plain(2) == 2
        assert Bot().plain(5) == 5
    assert [r.input for r in records] == [{"x": 2}, {"x": 2}, {"x": 2}, {"x": 5}]
    assert records[0].name.endswith("Bot.scale")


async def test_trace_async_function_times_the_await() -> None:
    """An async function's span covers the awaited work, and children nest under it."""

    @lg.trace
    async def work() -> str:
        await asyncio.sleep(0.02)
        with lg.span("child"):
            pass
        return "done"

    with capture() as records:
        assert await work() == "done"
    found = by_name(records)
    parent = next(r for r in records if r.name.endswith("work"))
    assert found["child"].parent_id == parent.span_id
    assert parent.duration_ms >= 15
    assert parent.output == "done"


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
    assert gen_record.stream == lg.StreamInfo(items=3, end="exhausted")
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
    assert records[0].stream == lg.StreamInfo(items=2, end="closed")
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
    assert records[0].stream == lg.StreamInfo(items=3, end="closed")


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
    assert records[0].stream == lg.StreamInfo(items=3, end="exhausted")
    assert drive is not None


def test_generator_error_is_recorded() -> None:
    """An exception inside a traced generator ends its span as an error and propagates."""

    @lg.trace
    def broken() -> Iterator[int]:
        yield 1
        raise RuntimeError("boom")

    with capture() as records, pytest.raises(RuntimeError, match="boom"):
        list(broken())
    assert records[0].stream == lg.StreamInfo(items=1, end="error")
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
        lg.StreamInfo(items=3, end="exhausted"),
        lg.StreamInfo(items=1, end="closed"),
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
    assert records[0].stream == lg.StreamInfo(items=1, end="cancelled")
    assert records[0].error_type == "asyncio.exceptions.CancelledError"


def test_capture_content_off_keeps_only_metadata() -> None:
    """With capture_content=False, inputs and outputs are not recorded."""
    lg.configure(capture_content=False)

    @lg.trace
    def secret(password: str) -> str:
        return password

    with capture() as records:
        secret("hunter2")
    assert records[0].input is None
    assert records[0].output is None
    assert b"hunter2" not in records[0].to_json()


def test_unserializable_arguments_are_rendered_safely() -> None:
    """Arguments JSON cannot hold are recorded as markers, never raising."""

    class Opaque:
        pass

    loop: list[object] = []
    loop.append(loop)

    @lg.trace
    def take(a: object, b: object, c: bytes) -> None:
        return None

    with capture() as records:
        take(Opaque(), loop, b"\xff\x00")
    recorded = records[0].input
    assert recorded["a"] == "<Opaque>"
    assert recorded["b"][0].startswith("<unserializable list")
    assert recorded["c"] == "_wA="


def test_threads_without_propagate_start_their_own_traces() -> None:
    """A plain thread does not inherit the current span: it starts a new trace."""
    with capture() as records, lg.span("root") as root:
        thread = threading.Thread(target=lambda: lg.span("orphan").__enter__().end())
        thread.start()
        thread.join()
    orphan = by_name(records)["orphan"]
    assert orphan.parent_id is None
    assert orphan.trace_id != root.trace_id


def test_span_ends_once() -> None:
    """Ending a span twice hands one record to delivery."""
    with capture() as records:
        s = lg.span("s")
        with s:
            pass
        s.end()
    assert len(records) == 1
    assert s.ended


def test_record_field_attributes_are_converted_or_kept_as_metadata() -> None:
    """usage as a mapping becomes Usage; a value that can't fill its field goes to metadata."""
    with capture() as records, lg.span("s", usage={"input": 3, "output": 1}, tags="one") as s:
        s.set_attribute("cost_usd", "not a number")
        s.set_attribute("attempt", {"number": 1})
    (record,) = records
    assert record.usage == lg.Usage(input=3, output=1)
    assert record.tags == ("one",)
    assert record.cost_usd is None
    assert record.metadata == {"cost_usd": "not a number"}
    assert record.attempt == {"number": 1}
    record.to_json()


def test_duration_excludes_capturing_the_output() -> None:
    """The span's clock stops before the return value is captured."""
    big = {"rows": [{"text": "x" * 100} for _ in range(100_000)]}

    @lg.trace
    def produce() -> dict[str, list[dict[str, str]]]:
        return big

    with capture() as records:
        produce()
    assert records[0].duration_ms < 5


class _Counted(pydantic.BaseModel):
    """An argument that counts how often it is serialized, as llmguard copies it."""

    value: int = 1

    @pydantic.field_serializer("value")
    def _count(self, value: int) -> int:
        _serialized.append(value)
        return value


_serialized: list[int] = []


def test_content_is_copied_only_when_a_record_would_be_received() -> None:
    """With no sink and no capture(), arguments are not read; with a sink they are."""

    @lg.trace
    def work(value: object) -> int:
        return 1

    _serialized.clear()
    lg.configure(sinks=[])
    work(_Counted())
    assert _serialized == []
    memory = lg.sinks.MemorySink()
    lg.configure(sinks=[memory])
    try:
        work(_Counted())
        assert lg.flush(timeout=5)
    finally:
        lg.configure(sinks=[])
    assert _serialized == [1]
    (record,) = memory.records
    assert record.input == {"value": {"value": 1}}
