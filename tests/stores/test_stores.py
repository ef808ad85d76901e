"""The BudgetStore protocol as budgets use it, with a store kept in a dict (no Redis).

The Redis store itself is tested against a real server in tests/stores/test_stores_redis.py.
"""

from __future__ import annotations

from typing import Any

import pytest

import llmguard as lg
from llmguard._spend.budgets import Budget
from llmguard.exceptions import BudgetExceeded, BudgetUnavailable
from llmguard.stores import BudgetSnapshot, BudgetStore, Grant


class DictStore:
    """A BudgetStore in a dict: enough to watch what a budget asks of its store."""

    def __init__(self, *, refuse_with: str | None = None, fail: bool = False) -> None:
        self.holds: dict[int, tuple[int, float]] = {}
        self.used = 0
        self.settled: list[tuple[int, Any]] = []
        self.refuse_with = refuse_with
        self.fail = fail
        self.on_reserve: Any = None
        self._ids = 0

    def reserve(
        self,
        tokens: int,
        cost_usd: float | None,
        *,
        max_tokens: int | None,
        max_cost_usd: float | None,
    ) -> Grant:
        if self.on_reserve is not None:
            self.on_reserve()
        if self.fail:
            raise BudgetUnavailable("down", store="DictStore", url=None, key="k", cause=OSError())
        state = self.snapshot()
        if self.refuse_with is not None:
            return Grant(granted=False, hold=None, state=state, limit=self.refuse_with)
        if max_tokens is not None and state.used + state.reserved + tokens > max_tokens:
            return Grant(granted=False, hold=None, state=state, limit="max_tokens")
        self._ids += 1
        self.holds[self._ids] = (tokens, cost_usd or 0.0)
        return Grant(granted=True, hold=self._ids, state=state)

    def settle(self, hold: object, charge: tuple[int, float | None] | None) -> None:
        assert isinstance(hold, int)
        del self.holds[hold]
        self.settled.append((hold, charge))
        if charge is not None:
            self.used += charge[0]

    def snapshot(self) -> BudgetSnapshot:
        return BudgetSnapshot(used=self.used, reserved=sum(t for t, _ in self.holds.values()))


def test_a_store_is_a_budget_store() -> None:
    """A class with reserve, settle and snapshot satisfies the protocol."""
    assert isinstance(DictStore(), BudgetStore)


def test_a_budget_keeps_its_accounts_in_its_store() -> None:
    """Holds, charges and counts go to the store; the budget reads them back."""
    store = DictStore()
    with lg.budget(max_tokens=100, store=store) as shared:
        held = lg.types.reserve(60)
        assert store.holds == {1: (60, 0.0)}
        assert (shared.reserved, shared.remaining) == (60, 40)
        held.reconcile(25)
        held.reconcile(99)  # the first settle counts
    assert store.settled == [(1, (25, None))]
    assert shared.used == 25
    assert shared._used == 0  # nothing was counted in the process


def test_holds_are_given_back_when_a_later_budget_refuses() -> None:
    """Budgets are tried innermost first; a refusal returns the holds already taken."""
    outer, inner = DictStore(refuse_with="max_tokens"), DictStore()
    outer_budget = lg.budget(max_tokens=10, store=outer)
    with outer_budget, lg.budget(store=inner), pytest.raises(BudgetExceeded) as refused:
        lg.types.reserve(50)
    assert refused.value.limit == "max_tokens"
    assert inner.holds == {}
    assert inner.settled == [(1, None)]


def test_holds_are_given_back_when_a_store_is_unavailable() -> None:
    """A store failing closed returns the holds already taken and raises its error."""
    outer, inner = DictStore(fail=True), DictStore()
    with lg.budget(store=outer), lg.budget(store=inner), pytest.raises(BudgetUnavailable):
        lg.types.reserve(50)
    assert inner.holds == {}


def test_a_local_budget_filled_meanwhile_is_checked_again_under_its_lock() -> None:
    """Local budgets are checked once before the stores and again when they hold."""
    store = DictStore()
    local = Budget(max_tokens=100)

    def race() -> None:  # another thread takes the local budget's room meanwhile
        with local._lock:
            local._hold(80, None)

    store.on_reserve = race
    with local, lg.budget(store=store), pytest.raises(BudgetExceeded):
        lg.types.reserve(50)
    assert store.holds == {}
    assert local.reserved == 80


def test_a_store_refusal_the_state_does_not_explain_still_refuses() -> None:
    """When the state a store returns shows room, its verdict still stands, by limit."""
    dollars = lg.budget(max_cost_usd=1.0, name="d", store=DictStore(refuse_with="max_cost_usd"))
    with dollars, pytest.raises(BudgetExceeded) as refused:
        lg.types.reserve(5, 0.1)
    assert (refused.value.limit, refused.value.maximum, refused.value.requested) == (
        "max_cost_usd",
        1.0,
        0.1,
    )
    tokens = lg.budget(max_tokens=9, store=DictStore(refuse_with="max_tokens"))
    with tokens, pytest.raises(BudgetExceeded) as refused:
        lg.types.reserve(5)
    assert (refused.value.limit, refused.value.maximum, refused.value.used) == (
        "max_tokens",
        9,
        0,
    )


def test_a_snapshot_of_a_local_budget_reads_every_count() -> None:
    """Budget.snapshot() works without a store too."""
    with lg.budget(max_tokens=100) as local:
        held = lg.types.reserve(40, 0.5)
        assert local.snapshot() == BudgetSnapshot(reserved=40, reserved_usd=0.5)
        held.reconcile(30, 0.25)
    assert local.snapshot() == BudgetSnapshot(used=30, cost_usd=0.25, calls=1)
