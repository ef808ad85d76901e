"""Tests for llmguard._spend.budgets: reserve, reconcile and release across the budgets."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard._spend.budgets import Budget, active
from llmguard.exceptions import BudgetExceeded


def test_nested_budgets_are_all_charged() -> None:
    """A call is held, then charged, in every enclosing budget."""
    with lg.budget(max_tokens=1000, max_cost_usd=1.0) as outer:
        with lg.budget(max_tokens=500) as inner:
            r = lg.types.reserve(300, 0.03)
            assert (outer.reserved, inner.reserved) == (300, 300)
            assert outer.reserved_usd == pytest.approx(0.03)
            assert (outer.remaining, inner.remaining) == (700, 200)
            r.reconcile(120, 0.012)
        lg.types.reserve(50, 0.005).reconcile(50, 0.005)
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
        lg.types.reserve(400).reconcile(400)
        held = lg.types.reserve(300)
        with lg.span("step") as span, pytest.raises(BudgetExceeded) as caught:
            lg.types.reserve(301)
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
        lg.types.reserve(40).reconcile(40)
        r = lg.types.reserve(60)
        assert b.remaining == 0
        with pytest.raises(BudgetExceeded):
            lg.types.reserve(1)
        r.release()


def test_the_outer_budget_can_refuse_too() -> None:
    """A call within the inner budget's cap is still refused by a crossed outer one."""
    inner = lg.budget(max_tokens=1000, name="inner")
    with lg.budget(max_tokens=100, name="outer") as outer:
        lg.types.reserve(90).reconcile(90)
        with inner, pytest.raises(BudgetExceeded) as caught:
            lg.types.reserve(20)
    assert caught.value.name == "outer"
    assert caught.value.used == 90
    assert inner.reserved == 0
    assert outer.reserved == 0


def test_the_innermost_crossed_budget_is_reported() -> None:
    """When several budgets would be crossed, the error names the innermost."""
    outer = lg.budget(max_tokens=10, name="outer")
    with outer, lg.budget(max_tokens=10, name="inner"), pytest.raises(BudgetExceeded) as caught:
        lg.types.reserve(11)
    assert caught.value.name == "inner"


def test_no_trace_id_outside_a_span() -> None:
    """Outside any span the refusal's trace id is None."""
    with lg.budget(max_tokens=1), pytest.raises(BudgetExceeded) as caught:
        lg.types.reserve(2)
    assert caught.value.trace_id is None


def test_dollar_caps_refuse_like_token_caps() -> None:
    """A reservation whose cost would cross max_cost_usd is refused with its data."""
    with lg.budget(max_cost_usd=0.10, name="usd") as b:
        lg.types.reserve(10, 0.06).reconcile(10, 0.06)
        with pytest.raises(BudgetExceeded) as caught:
            lg.types.reserve(10, 0.05)
        lg.types.reserve(10, 0.04).reconcile(10, 0.04)
    error = caught.value
    assert (error.limit, error.maximum, error.name) == ("max_cost_usd", 0.10, "usd")
    assert error.used == pytest.approx(0.06)
    assert error.requested == pytest.approx(0.05)
    assert b.cost_usd == pytest.approx(0.10)
    assert b.remaining_usd == pytest.approx(0.0)


def test_float_rounding_is_not_a_crossed_cap() -> None:
    """0.1 + 0.2 dollars fit a 0.3-dollar cap although 0.1 + 0.2 > 0.3 in floats."""
    with lg.budget(max_cost_usd=0.3) as b:
        lg.types.reserve(1, 0.1).reconcile(1, 0.1)
        lg.types.reserve(1, 0.2).reconcile(1, 0.2)
    assert b.calls == 2


def test_an_unpriced_call_is_refused_by_a_dollar_cap() -> None:
    """With max_cost_usd, a call of unknown cost cannot be shown to fit: refused."""
    with lg.budget(max_cost_usd=1.0, name="usd"), pytest.raises(BudgetExceeded) as caught:
        lg.types.reserve(10, None)
    assert caught.value.limit == "max_cost_usd"
    assert caught.value.requested is None
    assert "pricing.set" in str(caught.value)


def test_an_unpriced_call_passes_a_token_cap_and_is_counted() -> None:
    """Without a dollar cap, an unpriced call is admitted and counted as unpriced."""
    with lg.budget(max_tokens=100) as b:
        lg.types.reserve(10, None).reconcile(8, None)
    assert (b.used, b.cost_usd, b.calls, b.unpriced_calls) == (8, 0.0, 1, 1)


def test_reconcile_replaces_the_reservation_by_the_usage() -> None:
    """After reconcile, reserved drops by the hold and used rises by the actual usage."""
    with lg.budget(max_tokens=1000, max_cost_usd=1.0) as b:
        other = lg.types.reserve(100, 0.1)
        r = lg.types.reserve(500, 0.5)
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
        r = lg.types.reserve(500)
        assert "held" in repr(r)
        r.reconcile(100)
        r.reconcile(400)
        r.release()
    assert r.settled
    assert (b.used, b.reserved, b.calls) == (100, 0, 1)


def test_release_drops_the_reservation_without_charging() -> None:
    """A call that failed before using anything frees its hold and is not a call."""
    with lg.budget(max_tokens=1000, max_cost_usd=1.0) as b:
        r = lg.types.reserve(500, 0.5)
        r.release()
        r.reconcile(100, 0.1)
    assert (b.used, b.reserved, b.calls, b.cost_usd) == (0, 0, 0, 0.0)


def test_reconcile_without_a_cost_charges_the_reserved_estimate() -> None:
    """An unknown actual cost is charged at the reserved cost, so the cap still holds."""
    with lg.budget(max_cost_usd=1.0) as b:
        lg.types.reserve(10, 0.3).reconcile(7)
    assert b.cost_usd == pytest.approx(0.3)
    assert b.unpriced_calls == 0


def test_usage_past_the_reservation_is_charged_and_blocks_the_next_call() -> None:
    """What was really used is never hidden, even past the cap; later calls are refused."""
    with lg.budget(max_tokens=100) as b:
        lg.types.reserve(50).reconcile(130)
        assert (b.used, b.remaining) == (130, 0)
        with pytest.raises(BudgetExceeded):
            lg.types.reserve(1)


def test_reserve_with_no_budget_is_free() -> None:
    """Outside any budget a reservation holds nothing and settles quietly."""
    r = lg.types.reserve(10**9, 10.0)
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
            lg.types.reserve(tokens, cost)
        assert b.reserved == 0


def test_reconcile_rejects_bad_amounts() -> None:
    """reconcile validates too, and a rejected reconcile leaves the hold in place."""
    with lg.budget(max_tokens=100) as b:
        r = lg.types.reserve(10)
        with pytest.raises(ValueError, match="tokens"):
            r.reconcile(-1)
        with pytest.raises(ValueError, match="cost_usd"):
            r.reconcile(1, -1.0)
        assert (b.reserved, r.settled) == (10, False)
        r.reconcile(1)


def test_a_reservation_block_releases_on_error() -> None:
    """with reserve(...) as r: an exception before reconcile releases the hold."""
    with lg.budget(max_tokens=100) as b, pytest.raises(RuntimeError), lg.types.reserve(60):
        raise RuntimeError("the call failed")
    assert (b.used, b.reserved, b.calls) == (0, 0, 0)


def test_a_reservation_block_charges_in_full_if_never_reconciled() -> None:
    """A block that ends normally without reconcile charges the whole reservation."""
    with lg.budget(max_tokens=100, max_cost_usd=1.0) as b, lg.types.reserve(60, 0.6) as r:
        assert not r.settled
    assert (b.used, b.reserved, b.calls) == (60, 0, 1)
    assert b.cost_usd == pytest.approx(0.6)


def test_a_reservation_block_keeps_an_explicit_reconcile() -> None:
    """Reconciling inside the block is final; leaving the block (even raising) keeps it."""

    def call_then_fail(r: lg.types.Reservation) -> None:
        r.reconcile(25)
        raise RuntimeError("after the call")

    with lg.budget(max_tokens=100) as b:
        with pytest.raises(RuntimeError), lg.types.reserve(60) as r:
            call_then_fail(r)
        with lg.types.reserve(10) as r2:
            r2.reconcile(3)
    assert (b.used, b.reserved, b.calls) == (28, 0, 2)
    assert "settled" in repr(r)


def test_overlapping_budgets_in_threads_do_not_deadlock() -> None:
    """Threads holding the same budgets in opposite nesting orders never deadlock."""
    a, b = lg.budget(name="a"), lg.budget(name="b")

    def nested(first: Budget, second: Budget) -> None:
        for _ in range(2000):
            with first, second:
                lg.types.reserve(1).reconcile(1)

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
        lg.types.reserve(1)
    assert not healthy_lock.locked()
    assert first.reserved == 0


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
    open_holds: list[tuple[lg.types.Reservation, int]] = []
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
                    open_holds.append((lg.types.reserve(amount), amount))
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
                        r = lg.types.reserve(1 + i % 50)
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
