"""Budgets keep decorated signatures; reservations and prices are typed.

Checked by ``mypy --strict`` (tests/test_typing.py runs it); the functions also run
under pytest, so every example is exercised as well as type-checked.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from typing_extensions import assert_type

import llmguard as lg
from llmguard import pricing

daily = lg.budget(max_tokens=10_000, max_cost_usd=1.0, name="daily")


@daily
def summarize(text: str, *, words: int = 10) -> str:
    return " ".join(text.split()[:words])


@lg.budget(max_tokens=100)
async def classify(text: str) -> list[str]:
    return text.split()


def test_budget_decorator_keeps_a_sync_signature() -> None:
    """A budget-decorated function keeps its parameters and return type."""
    assert_type(summarize("a b c", words=2), str)
    assert summarize("a b c", words=2) == "a b"


async def test_budget_decorator_keeps_an_async_signature() -> None:
    """A budget-decorated coroutine function still returns a coroutine of its result."""
    pending = classify("x y")
    assert await assert_type(pending, Coroutine[Any, Any, list[str]]) == ["x", "y"]


def test_budget_properties_and_reservations_are_typed() -> None:
    """Totals are ints and floats; remaining is None without a cap."""
    with lg.budget(max_tokens=50) as b:
        r = lg.types.reserve(10, None)
        assert_type(r, lg.types.Reservation)
        r.reconcile(4)
    assert_type(b, lg.Budget)
    assert_type(b.used, int)
    assert_type(b.cost_usd, float)
    assert_type(b.remaining, int | None)
    assert_type(b.remaining_usd, float | None)
    assert b.used == 4


def test_prices_are_typed() -> None:
    """price() may be None; cost() may be None; the version is a string."""
    assert_type(pricing.price("gpt-5-mini"), pricing.Price | None)
    assert_type(pricing.cost(lg.Usage(input=1, output=1), "gpt-5-mini"), float | None)
    assert_type(pricing.table_version(), str)
