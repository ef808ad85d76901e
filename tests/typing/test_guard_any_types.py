"""@lg.guard keeps types when a signature mentions Any; checked by mypy --strict.

mypy tries every overload of ``Guard.__call__`` when the decorated function's signature
contains Any, and used to give up with ``def (*Any, **Any) -> Any``: then ``assert_type``
fails and so do the calls (``no-untyped-call``). tests/test_typing.py runs mypy over this
directory; the functions also run under pytest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from typing_extensions import assert_type

import llmguard as lg
from llmguard.testing import FakeLLM


class Ticket(BaseModel):
    category: str
    urgency: int


ANSWER = '{"category": "bug", "urgency": 2}'
USER: list[dict[str, Any]] = [{"role": "user", "content": "crash"}]


def test_schema_with_an_any_return_gives_the_schema_type() -> None:
    """schema=Ticket on `def f(...) -> Any` (what SDK clients return): f returns Ticket."""
    model = FakeLLM([ANSWER])

    @lg.guard(schema=Ticket, retries=2)
    def triage(messages: list[dict[str, Any]]) -> Any:
        return model(messages=messages)

    ticket = triage(USER)
    assert_type(ticket, Ticket)
    assert ticket.urgency == 2


async def test_schema_on_async_function_with_any_gives_awaitable_of_schema_type() -> None:
    """schema=Ticket on `async def f(...) -> Any`: f returns an awaitable of Ticket."""
    model = FakeLLM([ANSWER])

    @lg.guard(schema=Ticket)
    async def triage(messages: list[dict[str, Any]]) -> Any:
        return await model.acall(messages=messages)

    pending = triage(USER)
    assert_type(pending, Awaitable[Ticket])
    assert (await pending).category == "bug"


def test_guard_without_schema_keeps_a_signature_with_any() -> None:
    """Without a schema, Any in the parameters or the return keeps the function's type."""
    model = FakeLLM(["hello", "hi"], shape="text")

    @lg.guard(max_output_tokens=100)
    def chat(messages: list[dict[str, Any]], max_tokens: int | None = None) -> str:
        return str(model(messages=messages, max_tokens=max_tokens))

    @lg.guard(retries=0)
    def raw(messages: list[dict[str, Any]]) -> Any:
        return model(messages=messages)

    assert assert_type(chat(USER), str) == "hello"
    assert raw(USER) == "hi"


async def test_guard_without_schema_keeps_async_and_generator_types_with_any() -> None:
    """Coroutine functions, generators and async generators keep their types too."""

    @lg.guard(name="achat")
    async def achat(messages: list[dict[str, Any]]) -> str:
        return str(len(messages))

    @lg.guard(name="stream")
    def stream(messages: list[dict[str, Any]]) -> Iterator[str]:
        yield from ("a", "b")

    @lg.guard(name="astream")
    async def astream(messages: list[dict[str, Any]]) -> AsyncIterator[str]:
        for piece in ("a", "b"):
            yield piece

    pending = achat(USER)
    assert await assert_type(pending, Coroutine[Any, Any, str]) == "1"
    assert list(assert_type(stream(USER), Iterator[str])) == ["a", "b"]
    assert [p async for p in assert_type(astream(USER), AsyncIterator[str])] == ["a", "b"]


def test_bare_and_reusable_guards_keep_types_with_any() -> None:
    """Bare @lg.guard, and a kept Guard applied to functions whose signatures use Any."""
    model = FakeLLM([ANSWER])

    @lg.guard
    def echo(payload: dict[str, Any]) -> str:
        return str(payload["text"])

    def call_model(messages: list[dict[str, Any]]) -> Any:
        return model(messages=messages)

    def count(messages: list[dict[str, Any]]) -> int:
        return len(messages)

    triage = lg.guard(schema=Ticket)(call_model)
    counted = lg.guard(retries=0)(count)
    assert assert_type(echo({"text": "a"}), str) == "a"
    assert assert_type(triage(USER), Ticket).urgency == 2
    assert assert_type(counted(USER), int) == 1


class Desk:
    def __init__(self, model: FakeLLM) -> None:
        self.model = model

    @lg.guard(schema=Ticket)
    def triage(self, messages: list[dict[str, Any]]) -> Any:
        return self.model(messages=messages)

    @lg.guard(schema=Ticket)
    async def atriage(self, messages: list[dict[str, Any]]) -> Any:
        return await self.model.acall(messages=messages)

    @lg.guard(max_output_tokens=100)
    def count(self, messages: list[dict[str, Any]]) -> int:
        return len(messages)


async def test_guarded_methods_with_any_keep_types() -> None:
    """Guarded methods whose signatures use Any bind self and keep their types."""
    desk = Desk(FakeLLM([ANSWER, ANSWER]))
    assert assert_type(desk.triage(USER), Ticket).urgency == 2
    assert assert_type(await desk.atriage(USER), Ticket).category == "bug"
    assert assert_type(desk.count(USER), int) == 1


def test_trace_tool_and_agent_keep_types_with_any() -> None:
    """@lg.trace, @lg.tool and @lg.agent keep signatures that use Any."""

    @lg.trace
    def traced(payload: dict[str, Any]) -> str:
        return str(payload)

    @lg.tool
    def lookup(query: dict[str, Any]) -> str:
        return str(sorted(query))

    @lg.agent(max_steps=3)
    def run(task: dict[str, Any]) -> int:
        return len(task)

    assert assert_type(traced({}), str) == "{}"
    assert assert_type(lookup({"a": 1}), str) == "['a']"
    assert assert_type(run({"a": 1}), int) == 1


if TYPE_CHECKING:
    # The parameters are kept, not just the result: each call below is an arg-type error,
    # and strict mypy reports an unneeded ignore if it stops being one.
    def _misuse(desk: Desk) -> None:
        @lg.guard(schema=Ticket)
        def triage(messages: list[dict[str, Any]]) -> Any: ...

        @lg.guard(max_output_tokens=100)
        def chat(messages: list[dict[str, Any]]) -> str:
            raise NotImplementedError

        triage("crash")  # type: ignore[arg-type]
        chat("crash")  # type: ignore[arg-type]
        desk.triage("crash")  # type: ignore[arg-type]
