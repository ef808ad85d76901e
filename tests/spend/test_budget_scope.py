"""Tests for llmguard._spend.budgets: which budgets are open, and @budget around each call."""

from __future__ import annotations

import asyncio

import pytest

import llmguard as lg
from llmguard._spend.budgets import Budget, active
from llmguard.exceptions import BudgetExceeded


def test_with_makes_the_budget_active_only_inside() -> None:
    """The budget is active inside the block and not after, even on an error."""
    b = lg.budget(max_tokens=10)
    assert active() == ()
    with b as entered:
        assert entered is b
        assert active() == (b,)
    assert active() == ()
    with pytest.raises(KeyError), b:
        raise KeyError
    assert active() == ()


def test_nested_budgets_are_active_outermost_first() -> None:
    """Nested blocks stack; leaving the inner one leaves the outer one active."""
    with lg.budget(name="outer") as outer:
        with lg.budget(name="inner") as inner:
            assert active() == (outer, inner)
        assert active() == (outer,)


def test_a_budget_entered_twice_is_charged_once() -> None:
    """Re-entering the same budget (recursion, repeated decorators) never double-charges."""
    b = lg.budget(max_tokens=100)
    with b, b:
        assert active() == (b,)
        lg.types.reserve(60).reconcile(60)
    assert b.used == 60
    assert active() == ()


def test_exiting_a_budget_that_is_not_active_does_nothing() -> None:
    """__exit__ in a context where the budget is not open leaves the stack alone."""
    a, b = lg.budget(), lg.budget()
    with a:
        b.__exit__(None, None, None)
        assert active() == (a,)


async def test_async_with_makes_the_budget_active() -> None:
    """async with works like with."""
    async with lg.budget(max_tokens=50) as b:
        assert active() == (b,)
        lg.types.reserve(20).reconcile(5)
    assert active() == ()
    assert b.used == 5


def test_decorated_function_calls_share_the_budget() -> None:
    """A decorated function's calls are charged to one budget, active only during calls."""
    b = lg.budget(max_tokens=100, name="fn")

    @b
    def ask(tokens: int) -> tuple[Budget, ...]:
        lg.types.reserve(tokens).reconcile(tokens)
        return active()

    assert ask(40) == (b,)
    assert ask(40) == (b,)
    assert active() == ()
    with pytest.raises(BudgetExceeded):
        ask(40)
    assert (b.used, b.calls) == (80, 2)


def test_decorating_with_lg_budget_directly() -> None:
    """@lg.budget(...) works in one line, and the budget is reachable for inspection."""

    @lg.budget(max_tokens=10)
    def ask() -> int:
        (b,) = active()
        lg.types.reserve(3).reconcile(3)
        return b.used

    assert ask() == 3
    assert ask() == 6


async def test_decorated_coroutine_functions_share_the_budget() -> None:
    """async def functions are decorated too; the budget stays active across awaits."""
    b = lg.budget(max_tokens=100)

    @b
    async def ask(tokens: int) -> int:
        r = lg.types.reserve(tokens)
        await asyncio.sleep(0)
        assert active() == (b,)
        r.reconcile(tokens)
        return b.used

    assert await ask(30) == 30
    assert sorted(await asyncio.gather(ask(10), ask(20))) in ([40, 60], [50, 60])
    assert b.used == 60
    assert active() == ()


def test_decorated_methods_bind() -> None:
    """A budget decorates methods; self is passed as usual."""
    b = lg.budget(max_tokens=100)

    class Agent:
        @b
        def run(self, tokens: int) -> int:
            lg.types.reserve(tokens).reconcile(tokens)
            return tokens

    assert Agent().run(7) == 7
    assert b.used == 7
