"""``guard.stream`` is typed: ``for`` over a sync function, ``async for`` over an async one.

tests/test_typing.py runs mypy --strict over this directory; the functions also run
under pytest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from pydantic import BaseModel
from typing_extensions import assert_type

import llmguard as lg

PIECES = ['{"category": "b', 'ug", "urgency": 2}']
USER: list[dict[str, Any]] = [{"role": "user", "content": "crash"}]


class Ticket(BaseModel):
    category: str
    urgency: int


def test_a_sync_stream_gives_partials_of_the_schema_type() -> None:
    """``for partial in guard.stream(sync_fn, ...)``: each value is typed as the schema."""

    def triage(messages: list[dict[str, Any]]) -> Iterator[str]:
        return iter(PIECES)

    values: list[Ticket] = []
    for partial in lg.guard(schema=Ticket).stream(triage, USER):
        assert_type(partial.value, Ticket)
        assert_type(partial.final, bool)
        values.append(partial.value)
    assert values[-1] == Ticket(category="bug", urgency=2)


async def test_an_async_stream_gives_partials_of_the_schema_type() -> None:
    """``async for`` over an async generator function, and over an ``async def``."""

    async def pieces(messages: list[dict[str, Any]]) -> AsyncIterator[str]:
        for piece in PIECES:
            yield piece

    async def triage(messages: list[dict[str, Any]]) -> Iterator[str]:
        return iter(PIECES)

    guard = lg.guard(schema=Ticket)
    async with guard.stream(pieces, USER) as partials:
        async for partial in partials:
            assert_type(partial.value, Ticket)
    async for partial in guard.stream(triage, USER):
        if partial.final:
            assert partial.value.urgency == 2


def test_a_function_returning_any_gives_a_stream_for_either_loop() -> None:
    """A ``-> Any`` function (what SDK clients return): the stream works with ``for``."""

    def triage(messages: list[dict[str, Any]]) -> Any:
        return iter(PIECES)

    with lg.guard(schema=Ticket).stream(triage, USER) as partials:
        last = [partial.value for partial in partials][-1]
    assert_type(last, Ticket)
    assert last.category == "bug"
