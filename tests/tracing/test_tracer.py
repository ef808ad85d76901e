"""Tests for _tracing.decorator: @lg.trace on functions, methods and coroutines."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator

import pydantic
import pytest

import llmguard as lg
from llmguard.testing import capture
from tests._helpers.tracing import by_name


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
    assert recorded["c"] == "\ufffd\x00"  # bytes as their text, for the redactors


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
