"""lg.budget: nested token and dollar caps, reserve then reconcile, across tasks and threads."""

from __future__ import annotations

import asyncio
import random
import runpy
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import llmguard as lg
from llmguard._spend.budgets import Budget, active
from llmguard.exceptions import BudgetExceeded

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def checked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Check every budget's caps inside the critical section, after each change.

    Wraps the two methods that change a budget, which run with its lock held, so the
    invariant is asserted at every point any thread could observe. Violations are
    collected (an assert in another thread would be lost) and the list is returned.
    """
    violations: list[str] = []
    hold, settle = Budget._hold, Budget._settle

    def check(b: Budget) -> None:
        if not b._lock.locked():
            violations.append("changed without its lock")
        if b.max_tokens is not None and b._used + b._reserved > b.max_tokens:
            violations.append(f"tokens {b._used} + {b._reserved} > {b.max_tokens}")
        if b.max_cost_usd is not None and b._cost + b._reserved_cost > b.max_cost_usd + 1e-9:
            violations.append(f"cost {b._cost} + {b._reserved_cost} > {b.max_cost_usd}")

    def checked_hold(b: Budget, *args: Any) -> None:
        hold(b, *args)
        check(b)

    def checked_settle(b: Budget, *args: Any) -> None:
        settle(b, *args)
        check(b)

    monkeypatch.setattr(Budget, "_hold", checked_hold)
    monkeypatch.setattr(Budget, "_settle", checked_settle)
    return violations


# -- creating a budget -------------------------------------------------------------------


def test_a_budget_starts_empty() -> None:
    """A new budget has used nothing and has its whole cap free."""
    b = lg.budget(max_tokens=1000, max_cost_usd=0.5, name="run")
    assert isinstance(b, lg.Budget)
    assert (b.used, b.cost_usd, b.reserved, b.reserved_usd, b.calls) == (0, 0.0, 0, 0.0, 0)
    assert (b.remaining, b.remaining_usd, b.name) == (1000, 0.5, "run")
    assert b.unpriced_calls == 0


def test_a_budget_without_caps_only_counts() -> None:
    """No cap: nothing is refused, usage is still counted; remaining is None."""
    with lg.budget() as b:
        lg.types.reserve(10**9, 10**6).reconcile(123, 0.25)
    assert (b.used, b.cost_usd, b.calls) == (123, 0.25, 1)
    assert b.remaining is None
    assert b.remaining_usd is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_tokens": -1},
        {"max_tokens": 10.5},
        {"max_tokens": 100.0},
        {"max_tokens": "100"},
        {"max_tokens": True},
        {"max_cost_usd": -0.01},
        {"max_cost_usd": "1"},
        {"max_cost_usd": float("nan")},
        {"max_cost_usd": float("inf")},
        {"max_cost_usd": False},
        {"name": 3},
    ],
)
def test_bad_caps_are_configuration_errors(kwargs: dict[str, Any]) -> None:
    """Negative, non-numeric or non-finite caps (or a non-string name) fail at creation."""
    with pytest.raises(lg.ConfigurationError):
        lg.budget(**kwargs)


def test_caps_are_keyword_only() -> None:
    """lg.budget(0.5) cannot silently mean 0.5 tokens: the caps must be named."""
    make: Any = lg.budget
    with pytest.raises(TypeError):
        make(0.5)


def test_zero_caps_are_allowed_and_refuse_any_spending() -> None:
    """max_tokens=0 refuses every call that needs a token; an empty call still passes."""
    with lg.budget(max_tokens=0, max_cost_usd=0) as b:
        lg.types.reserve(0, 0.0).reconcile(0, 0.0)
        with pytest.raises(BudgetExceeded):
            lg.types.reserve(1, 0.0)
    assert b.calls == 1


def test_repr_shows_usage_and_caps() -> None:
    """repr names the budget, what it used and its caps."""
    b = lg.budget(max_tokens=10, name="r")
    assert "name='r'" in repr(b)
    assert "max_tokens=10" in repr(b)


# -- decorators --------------------------------------------------------------------------


def test_decorating_something_not_callable_is_a_configuration_error() -> None:
    """@budget on a non-callable fails at decoration time."""
    with pytest.raises(lg.ConfigurationError):
        lg.budget()(42)  # type: ignore[arg-type]


# -- concurrency -------------------------------------------------------------------------


async def test_concurrent_tasks_never_exceed_the_budget(checked: list[str]) -> None:
    """200 tasks reserve, await, then reconcile a random usage below their hold: the
    caps hold at every point, and the total is exactly the admitted tasks' usage."""
    rng = random.Random(1234)
    plans = [(rng.randint(1, 60), rng.random()) for _ in range(200)]
    admitted: list[tuple[int, float]] = []
    refused: list[BudgetExceeded] = []

    async def call(tokens: int, fraction: float) -> None:
        try:
            r = lg.types.reserve(tokens, tokens * 1e-5)
        except BudgetExceeded as exc:
            refused.append(exc)
            return
        await asyncio.sleep(fraction / 1000)
        used = int(tokens * fraction)
        r.reconcile(used, used * 1e-5)
        admitted.append((used, used * 1e-5))

    async with lg.budget(max_tokens=2500, max_cost_usd=0.02, name="shared") as b:
        await asyncio.gather(*(call(t, f) for t, f in plans))

    assert checked == []
    assert refused  # the demand (about 6000 tokens) is well over the cap
    assert len(admitted) + len(refused) == 200
    assert b.used == sum(u for u, _ in admitted)
    assert b.cost_usd == pytest.approx(sum(c for _, c in admitted))
    assert b.calls == len(admitted)
    assert b.used <= 2500
    assert (b.reserved, b.reserved_usd) == (0, 0.0)


async def test_tasks_created_outside_the_budget_are_not_charged() -> None:
    """A task created before the budget was opened does not see it (contextvars)."""
    b = lg.budget(max_tokens=10)
    outside = asyncio.Event()

    async def elsewhere() -> tuple[Budget, ...]:
        await outside.wait()
        return active()

    task = asyncio.create_task(elsewhere())
    async with b:
        outside.set()
        assert await task == ()


def test_threads_with_propagate_charge_the_budget(checked: list[str]) -> None:
    """Threads started through lg.propagate reserve and reconcile against the budget;
    the caps hold throughout and the total is exact."""
    rng = random.Random(99)
    plans = [(rng.randint(1, 60), rng.random()) for _ in range(200)]
    admitted: list[int] = []
    refused: list[BudgetExceeded] = []
    record = threading.Lock()

    def call(tokens: int, fraction: float) -> None:
        try:
            r = lg.types.reserve(tokens)
        except BudgetExceeded as exc:
            with record:
                refused.append(exc)
            return
        time.sleep(fraction / 1000)
        used = int(tokens * fraction)
        r.reconcile(used)
        with record:
            admitted.append(used)

    outer, inner = lg.budget(max_tokens=2500), lg.budget(max_tokens=4000)
    with outer, inner, ThreadPoolExecutor(max_workers=16) as pool:
        work = lg.propagate(call)
        list(pool.map(work, *zip(*plans, strict=True)))

    assert checked == []
    assert refused
    assert len(admitted) + len(refused) == 200
    assert outer.used == inner.used == sum(admitted)
    assert outer.used <= 2500
    assert outer.reserved == inner.reserved == 0


def test_threads_without_propagate_do_not_see_the_budget() -> None:
    """A plain thread runs in its own context: no budget is active there."""
    found: list[tuple[Budget, ...]] = []
    with lg.budget(max_tokens=10):
        thread = threading.Thread(target=lambda: found.append(active()))
        thread.start()
        thread.join()
    assert found == [()]


def test_one_budget_entered_by_many_threads_at_once() -> None:
    """Each thread's `with b:` activates and deactivates b in that thread only."""
    b = lg.budget(max_tokens=10_000)
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            start.wait()
            for _ in range(100):
                with b:
                    assert active() == (b,)
                    lg.types.reserve(1).reconcile(1)
                assert active() == ()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert b.used == 800


# -- the example -------------------------------------------------------------------------


def test_the_budgets_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """examples/budgets.py runs offline and shows a call refused before it is made."""
    runpy.run_path(str(EXAMPLES / "budgets.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "refused before the call: budget 'request 2'" in out
    assert "(model calls made: 3 before, 3 after)" in out
    assert "day: 4 call(s)" in out
