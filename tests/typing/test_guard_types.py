"""@lg.guard returns the schema's type, and keeps the signature; checked by mypy --strict.

tests/test_typing.py runs mypy over this directory; the functions also run under pytest.
"""

from __future__ import annotations

from collections.abc import Awaitable

from pydantic import BaseModel
from typing_extensions import assert_type

import llmguard as lg
from llmguard.testing import FakeLLM


class Ticket(BaseModel):
    category: str
    urgency: int


ANSWER = '{"category": "bug", "urgency": 2}'


def test_schema_makes_the_function_return_the_schema_type() -> None:
    """With schema=Ticket, a sync function returns Ticket."""
    model = FakeLLM([ANSWER])

    @lg.guard(schema=Ticket)
    def triage(messages: list[dict[str, str]], *, temperature: float = 0.0) -> object:
        return model(messages=messages, temperature=temperature)

    ticket = triage([{"role": "user", "content": "crash"}], temperature=0.2)
    assert_type(ticket, Ticket)
    assert ticket.urgency == 2


async def test_schema_on_async_function_returns_awaitable_of_schema_type() -> None:
    """With schema=Ticket, an async function returns an awaitable of Ticket."""
    model = FakeLLM([ANSWER])

    @lg.guard(schema=Ticket)
    async def triage(messages: list[dict[str, str]]) -> object:
        return await model.acall(messages=messages)

    pending = triage([{"role": "user", "content": "crash"}])
    assert_type(pending, Awaitable[Ticket])
    assert (await pending).category == "bug"


def test_guard_without_schema_keeps_the_return_type() -> None:
    """Bare @lg.guard and @lg.guard(...) without a schema keep the function's type."""

    @lg.guard
    def echo(prompt: str) -> str:
        return prompt

    @lg.guard(retries=0, name="shout")
    def shout(prompt: str) -> str:
        return prompt.upper()

    assert_type(echo("a"), str)
    assert_type(shout("b"), str)
    assert shout("b") == "B"


def test_reusable_guard_is_generic_in_the_schema() -> None:
    """lg.guard(schema=T) is a Guard[T] that can decorate several functions."""
    policy = lg.guard(schema=Ticket, retries=1)
    assert_type(policy, lg.Guard[Ticket])
    model = FakeLLM([ANSWER])

    def call_model(messages: list[dict[str, str]]) -> object:
        return model(messages=messages)

    triage = policy(call_model)
    assert_type(triage([{"role": "user", "content": "x"}]), Ticket)


def test_inline_attempts_are_typed() -> None:
    """guard.attempts() yields InlineAttempt[T] whose value is T after the loop."""
    model = FakeLLM([ANSWER])
    for attempt in lg.guard(schema=Ticket).attempts([{"role": "user", "content": "x"}]):
        assert_type(attempt, lg.types.InlineAttempt[Ticket])
        with attempt:
            attempt.submit(model(messages=attempt.messages))
    assert_type(attempt.value, Ticket | None)
    assert attempt.value is not None
    assert attempt.value.category == "bug"
