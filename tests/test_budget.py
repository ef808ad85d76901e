"""lg.budget: nested token and dollar caps, reserve then reconcile, across tasks and threads."""

from __future__ import annotations

import asyncio
import random
import runpy
import threading
import time
from collections.abc import AsyncIterator, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard._budget import Budget, active
from llmguard.exceptions import BudgetExceeded

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


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
        lg.reserve(10**9, 10**6).reconcile(123, 0.25)
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
        lg.reserve(0, 0.0).reconcile(0, 0.0)
        with pytest.raises(BudgetExceeded):
            lg.reserve(1, 0.0)
    assert b.calls == 1


def test_repr_shows_usage_and_caps() -> None:
    """repr names the budget, what it used and its caps."""
    b = lg.budget(max_tokens=10, name="r")
    assert "name='r'" in repr(b)
    assert "max_tokens=10" in repr(b)


# -- activation --------------------------------------------------------------------------


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
        lg.reserve(60).reconcile(60)
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
        lg.reserve(20).reconcile(5)
    assert active() == ()
    assert b.used == 5


# -- reserve and reconcile ---------------------------------------------------------------


def test_nested_budgets_are_all_charged() -> None:
    """A call is held, then charged, in every enclosing budget."""
    with lg.budget(max_tokens=1000, max_cost_usd=1.0) as outer:
        with lg.budget(max_tokens=500) as inner:
            r = lg.reserve(300, 0.03)
            assert (outer.reserved, inner.reserved) == (300, 300)
            assert outer.reserved_usd == pytest.approx(0.03)
            assert (outer.remaining, inner.remaining) == (700, 200)
            r.reconcile(120, 0.012)
        lg.reserve(50, 0.005).reconcile(50, 0.005)
    assert (outer.used, outer.calls, outer.reserved) == (170, 2, 0)
    assert outer.cost_usd == pytest.approx(0.017)
    assert (inner.used, inner.calls, inner.reserved) == (120, 1, 0)
    assert inner.cost_usd == pytest.approx(0.012)
    assert outer.remaining_usd == pytest.approx(1.0 - 0.017)


def test_a_crossing_reservation_is_refused_with_its_data() -> None:
    """The refusal names the limit, its maximum, what was used and requested, the budget
    and the trace id of the span it happened in -- and holds nothing anywhere."""
    outer = lg.budget(max_tokens=10_000, name="outer")
    inner = lg.budget(max_tokens=1000, name="inner")
    with outer, inner:
        lg.reserve(400).reconcile(400)
        held = lg.reserve(300)
        with lg.span("step") as span, pytest.raises(BudgetExceeded) as caught:
            lg.reserve(301)
    error = caught.value
    assert isinstance(error, lg.exceptions.LimitExceeded)
    assert error.limit == "max_tokens"
    assert error.maximum == 1000
    assert error.used == 400
    assert error.requested == 301
    assert error.name == "inner"
    assert error.trace_id == span.trace_id
    assert "300 reserved" in str(error)
    assert (outer.reserved, inner.reserved) == (300, 300)
    assert (outer.used, inner.used) == (400, 400)
    held.release()
    assert (outer.reserved, inner.reserved) == (0, 0)


def test_a_reservation_exactly_at_the_cap_is_admitted() -> None:
    """used + reserved + request == max is allowed; one more token is not."""
    with lg.budget(max_tokens=100) as b:
        lg.reserve(40).reconcile(40)
        r = lg.reserve(60)
        assert b.remaining == 0
        with pytest.raises(BudgetExceeded):
            lg.reserve(1)
        r.release()


def test_the_outer_budget_can_refuse_too() -> None:
    """A call within the inner budget's cap is still refused by a crossed outer one."""
    inner = lg.budget(max_tokens=1000, name="inner")
    with lg.budget(max_tokens=100, name="outer") as outer:
        lg.reserve(90).reconcile(90)
        with inner, pytest.raises(BudgetExceeded) as caught:
            lg.reserve(20)
    assert caught.value.name == "outer"
    assert caught.value.used == 90
    assert inner.reserved == 0
    assert outer.reserved == 0


def test_the_innermost_crossed_budget_is_reported() -> None:
    """When several budgets would be crossed, the error names the innermost."""
    outer = lg.budget(max_tokens=10, name="outer")
    with outer, lg.budget(max_tokens=10, name="inner"), pytest.raises(BudgetExceeded) as caught:
        lg.reserve(11)
    assert caught.value.name == "inner"


def test_no_trace_id_outside_a_span() -> None:
    """Outside any span the refusal's trace id is None."""
    with lg.budget(max_tokens=1), pytest.raises(BudgetExceeded) as caught:
        lg.reserve(2)
    assert caught.value.trace_id is None


def test_dollar_caps_refuse_like_token_caps() -> None:
    """A reservation whose cost would cross max_cost_usd is refused with its data."""
    with lg.budget(max_cost_usd=0.10, name="usd") as b:
        lg.reserve(10, 0.06).reconcile(10, 0.06)
        with pytest.raises(BudgetExceeded) as caught:
            lg.reserve(10, 0.05)
        lg.reserve(10, 0.04).reconcile(10, 0.04)
    error = caught.value
    assert (error.limit, error.maximum, error.name) == ("max_cost_usd", 0.10, "usd")
    assert error.used == pytest.approx(0.06)
    assert error.requested == pytest.approx(0.05)
    assert b.cost_usd == pytest.approx(0.10)
    assert b.remaining_usd == pytest.approx(0.0)


def test_float_rounding_is_not_a_crossed_cap() -> None:
    """0.1 + 0.2 dollars fit a 0.3-dollar cap although 0.1 + 0.2 > 0.3 in floats."""
    with lg.budget(max_cost_usd=0.3) as b:
        lg.reserve(1, 0.1).reconcile(1, 0.1)
        lg.reserve(1, 0.2).reconcile(1, 0.2)
    assert b.calls == 2


def test_an_unpriced_call_is_refused_by_a_dollar_cap() -> None:
    """With max_cost_usd, a call of unknown cost cannot be shown to fit: refused."""
    with lg.budget(max_cost_usd=1.0, name="usd"), pytest.raises(BudgetExceeded) as caught:
        lg.reserve(10, None)
    assert caught.value.limit == "max_cost_usd"
    assert caught.value.requested is None
    assert "pricing.set" in str(caught.value)


def test_an_unpriced_call_passes_a_token_cap_and_is_counted() -> None:
    """Without a dollar cap, an unpriced call is admitted and counted as unpriced."""
    with lg.budget(max_tokens=100) as b:
        lg.reserve(10, None).reconcile(8, None)
    assert (b.used, b.cost_usd, b.calls, b.unpriced_calls) == (8, 0.0, 1, 1)


def test_reconcile_replaces_the_reservation_by_the_usage() -> None:
    """After reconcile, reserved drops by the hold and used rises by the actual usage."""
    with lg.budget(max_tokens=1000, max_cost_usd=1.0) as b:
        other = lg.reserve(100, 0.1)
        r = lg.reserve(500, 0.5)
        assert (b.reserved, b.used) == (600, 0)
        r.reconcile(210, 0.021)
        assert (b.reserved, b.used, b.calls) == (100, 210, 1)
        assert b.reserved_usd == pytest.approx(0.1)
        assert b.cost_usd == pytest.approx(0.021)
        other.release()
    assert (b.reserved, b.reserved_usd) == (0, 0.0)


def test_reconcile_is_idempotent_and_final() -> None:
    """A second reconcile, or a release after it, changes nothing."""
    with lg.budget(max_tokens=1000) as b:
        r = lg.reserve(500)
        assert "held" in repr(r)
        r.reconcile(100)
        r.reconcile(400)
        r.release()
    assert r.settled
    assert (b.used, b.reserved, b.calls) == (100, 0, 1)


def test_release_drops_the_reservation_without_charging() -> None:
    """A call that failed before using anything frees its hold and is not a call."""
    with lg.budget(max_tokens=1000, max_cost_usd=1.0) as b:
        r = lg.reserve(500, 0.5)
        r.release()
        r.reconcile(100, 0.1)
    assert (b.used, b.reserved, b.calls, b.cost_usd) == (0, 0, 0, 0.0)


def test_reconcile_without_a_cost_charges_the_reserved_estimate() -> None:
    """An unknown actual cost is charged at the reserved cost, so the cap still holds."""
    with lg.budget(max_cost_usd=1.0) as b:
        lg.reserve(10, 0.3).reconcile(7)
    assert b.cost_usd == pytest.approx(0.3)
    assert b.unpriced_calls == 0


def test_usage_past_the_reservation_is_charged_and_blocks_the_next_call() -> None:
    """What was really used is never hidden, even past the cap; later calls are refused."""
    with lg.budget(max_tokens=100) as b:
        lg.reserve(50).reconcile(130)
        assert (b.used, b.remaining) == (130, 0)
        with pytest.raises(BudgetExceeded):
            lg.reserve(1)


def test_reserve_with_no_budget_is_free() -> None:
    """Outside any budget a reservation holds nothing and settles quietly."""
    r = lg.reserve(10**9, 10.0)
    assert r.budgets == ()
    r.reconcile(5, 0.1)
    assert r.settled


@pytest.mark.parametrize(
    ("tokens", "cost"),
    [(-1, None), (1.5, None), ("3", None), (True, None), (1, -0.1), (1, float("nan")), (1, "x")],
)
def test_reserve_rejects_bad_amounts(tokens: Any, cost: Any) -> None:
    """Negative or non-numeric amounts are a ValueError, holding nothing."""
    with lg.budget(max_tokens=100) as b:
        with pytest.raises(ValueError, match="must be a non-negative"):
            lg.reserve(tokens, cost)
        assert b.reserved == 0


def test_reconcile_rejects_bad_amounts() -> None:
    """reconcile validates too, and a rejected reconcile leaves the hold in place."""
    with lg.budget(max_tokens=100) as b:
        r = lg.reserve(10)
        with pytest.raises(ValueError, match="tokens"):
            r.reconcile(-1)
        with pytest.raises(ValueError, match="cost_usd"):
            r.reconcile(1, -1.0)
        assert (b.reserved, r.settled) == (10, False)
        r.reconcile(1)


def test_a_reservation_block_releases_on_error() -> None:
    """with reserve(...) as r: an exception before reconcile releases the hold."""
    with lg.budget(max_tokens=100) as b, pytest.raises(RuntimeError), lg.reserve(60):
        raise RuntimeError("the call failed")
    assert (b.used, b.reserved, b.calls) == (0, 0, 0)


def test_a_reservation_block_charges_in_full_if_never_reconciled() -> None:
    """A block that ends normally without reconcile charges the whole reservation."""
    with lg.budget(max_tokens=100, max_cost_usd=1.0) as b, lg.reserve(60, 0.6) as r:
        assert not r.settled
    assert (b.used, b.reserved, b.calls) == (60, 0, 1)
    assert b.cost_usd == pytest.approx(0.6)


def test_a_reservation_block_keeps_an_explicit_reconcile() -> None:
    """Reconciling inside the block is final; leaving the block (even raising) keeps it."""

    def call_then_fail(r: lg.Reservation) -> None:
        r.reconcile(25)
        raise RuntimeError("after the call")

    with lg.budget(max_tokens=100) as b:
        with pytest.raises(RuntimeError), lg.reserve(60) as r:
            call_then_fail(r)
        with lg.reserve(10) as r2:
            r2.reconcile(3)
    assert (b.used, b.reserved, b.calls) == (28, 0, 2)
    assert "settled" in repr(r)


# -- decorators --------------------------------------------------------------------------


def test_decorated_function_calls_share_the_budget() -> None:
    """A decorated function's calls are charged to one budget, active only during calls."""
    b = lg.budget(max_tokens=100, name="fn")

    @b
    def ask(tokens: int) -> tuple[Budget, ...]:
        lg.reserve(tokens).reconcile(tokens)
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
        lg.reserve(3).reconcile(3)
        return b.used

    assert ask() == 3
    assert ask() == 6


async def test_decorated_coroutine_functions_share_the_budget() -> None:
    """async def functions are decorated too; the budget stays active across awaits."""
    b = lg.budget(max_tokens=100)

    @b
    async def ask(tokens: int) -> int:
        r = lg.reserve(tokens)
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
            lg.reserve(tokens).reconcile(tokens)
            return tokens

    assert Agent().run(7) == 7
    assert b.used == 7


def test_decorating_something_not_callable_is_a_configuration_error() -> None:
    """@budget on a non-callable fails at decoration time."""
    with pytest.raises(lg.ConfigurationError):
        lg.budget()(42)  # type: ignore[arg-type]


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
            r = lg.reserve(tokens, tokens * 1e-5)
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
            r = lg.reserve(tokens)
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
                    lg.reserve(1).reconcile(1)
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


def test_overlapping_budgets_in_threads_do_not_deadlock() -> None:
    """Threads holding the same budgets in opposite nesting orders never deadlock."""
    a, b = lg.budget(name="a"), lg.budget(name="b")

    def nested(first: Budget, second: Budget) -> None:
        for _ in range(2000):
            with first, second:
                lg.reserve(1).reconcile(1)

    threads = [
        threading.Thread(target=nested, args=(a, b)),
        threading.Thread(target=nested, args=(b, a)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert a.used == b.used == 4000


class _FailingLock:
    """A lock whose acquire is interrupted, as by KeyboardInterrupt in the main thread."""

    def acquire(self) -> bool:
        raise KeyboardInterrupt

    def release(self) -> None:  # pragma: no cover - never acquired
        raise AssertionError("released a lock that was never taken")


def test_an_interrupted_lock_acquisition_releases_the_locks_taken() -> None:
    """If taking the budgets' locks is interrupted, the locks already taken are released
    and nothing is held, so the budgets stay usable."""
    first, second = sorted((lg.budget(), lg.budget()), key=id)
    healthy_lock = first._lock
    second._lock = _FailingLock()  # type: ignore[assignment]
    with first, second, pytest.raises(KeyboardInterrupt):
        lg.reserve(1)
    assert not healthy_lock.locked()
    assert first.reserved == 0


# -- properties (hypothesis) -------------------------------------------------------------

Op = tuple[str, int, float]

ops = st.lists(
    st.tuples(
        st.sampled_from(["reserve", "reconcile", "release"]),
        st.integers(min_value=0, max_value=400),
        st.floats(min_value=0, max_value=1),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(ops=ops, outer_cap=st.integers(0, 1500), inner_cap=st.integers(0, 1500))
def test_any_sequence_keeps_the_caps_and_exact_totals(
    ops: list[Op], outer_cap: int, inner_cap: int
) -> None:
    """Any sequence of reserve / reconcile / release on nested budgets keeps
    used + reserved within each cap, reserved equal to the open holds, and used equal
    to the sum of the reconciled amounts; a refusal changes nothing anywhere."""
    open_holds: list[tuple[lg.Reservation, int]] = []
    reconciled = 0
    with lg.budget(max_tokens=outer_cap) as outer, lg.budget(max_tokens=inner_cap) as inner:
        for kind, amount, fraction in ops:
            before = (outer.used, outer.reserved, inner.used, inner.reserved)
            if kind == "reserve":
                fits = all(
                    b.used + b.reserved + amount <= cap
                    for b, cap in ((outer, outer_cap), (inner, inner_cap))
                )
                try:
                    open_holds.append((lg.reserve(amount), amount))
                except BudgetExceeded:
                    assert not fits
                    assert (outer.used, outer.reserved, inner.used, inner.reserved) == before
                else:
                    assert fits
            elif open_holds:
                r, held = open_holds.pop(amount % len(open_holds))
                if kind == "reconcile":
                    used = int(held * fraction)
                    r.reconcile(used)
                    reconciled += used
                else:
                    r.release()
            for b, cap in ((outer, outer_cap), (inner, inner_cap)):
                assert b.used + b.reserved <= cap
                assert b.used == reconciled
                assert b.reserved == sum(held for _, held in open_holds)


def test_reserve_is_atomic_across_budgets_under_contention() -> None:
    """Threads racing on two nested budgets with small caps: no budget is ever held
    past its cap, and every admitted hold is in both budgets."""
    outer_cap, inner_cap = 500, 300
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    with lg.budget(max_tokens=outer_cap) as outer, lg.budget(max_tokens=inner_cap) as inner:

        def work() -> None:
            try:
                start.wait()
                for i in range(300):
                    try:
                        r = lg.reserve(1 + i % 50)
                    except BudgetExceeded:
                        continue
                    assert outer.reserved + outer.used <= outer_cap
                    assert inner.reserved + inner.used <= inner_cap
                    r.release()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=lg.propagate(work)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert (outer.reserved, inner.reserved, outer.used, inner.used) == (0, 0, 0, 0)
    assert active() == ()


# -- the example -------------------------------------------------------------------------


def test_the_budgets_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """examples/budgets.py runs offline and shows a call refused before it is made."""
    runpy.run_path(str(EXAMPLES / "budgets.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "refused before the call: budget 'request 2'" in out
    assert "(model calls made: 3 before, 3 after)" in out
    assert "day: 4 call(s)" in out
