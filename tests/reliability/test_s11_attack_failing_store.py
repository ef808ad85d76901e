"""A budget store of the application's own that fails when a call is settled.

`BudgetStore.settle` is documented never to raise, but a store is an extension point
like a sink: when one raises anyway, the call it settles has already been made and
answered. Its answer must still reach the caller, and the other stores must still be
settled.
"""

from __future__ import annotations

import logging

import pytest

import llmguard as lg
from llmguard.exceptions import BudgetExceeded
from llmguard.stores import BudgetSnapshot, Grant


class CountingStore:
    """A store in memory that keeps what it was told."""

    def __init__(self, *, fail_settle: bool = False, cap: int | None = None) -> None:
        self.fail_settle = fail_settle
        self.cap = cap
        self.held = 0
        self.used = 0
        self.settled: list[object] = []

    def reserve(
        self,
        tokens: int,
        cost_usd: float | None,
        *,
        max_tokens: int | None,
        max_cost_usd: float | None,
    ) -> Grant:
        state = BudgetSnapshot(used=self.used, reserved=self.held)
        if self.cap is not None and self.used + self.held + tokens > self.cap:
            return Grant(granted=False, hold=None, state=state, limit="max_tokens")
        self.held += tokens
        return Grant(granted=True, hold=tokens, state=state)

    def settle(self, hold: object, charge: tuple[int, float | None] | None) -> None:
        if self.fail_settle:
            raise RuntimeError("the store is broken")
        assert isinstance(hold, int)
        self.held -= hold
        self.used += 0 if charge is None else charge[0]
        self.settled.append(charge)

    def snapshot(self) -> BudgetSnapshot:
        return BudgetSnapshot(used=self.used, reserved=self.held)


def test_a_store_failing_to_settle_leaves_the_answer_and_the_other_stores(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The guarded call returns; the healthy store is charged; the failure is reported."""
    broken, healthy = CountingStore(fail_settle=True), CountingStore()

    @lg.guard(model="gpt-4o-mini", max_output_tokens=10)
    def call(messages: list[dict[str, str]], max_tokens: int | None = None) -> str:
        return "the answer"

    with (
        caplog.at_level(logging.WARNING, logger="llmguard"),
        lg.budget(store=healthy),
        lg.budget(store=broken),
    ):
        assert call([{"role": "user", "content": "hi"}]) == "the answer"
    assert (healthy.held, len(healthy.settled)) == (0, 1)
    assert healthy.used > 0
    assert "the store is broken" in caplog.text or "RuntimeError" in caplog.text


def test_a_store_failing_to_give_back_does_not_hide_the_refusal() -> None:
    """Another budget refuses: the holds are given back, a failing one aside, and the
    caller gets the BudgetExceeded, not the store's error."""
    broken, healthy = CountingStore(fail_settle=True), CountingStore()
    refusing = CountingStore(cap=5)
    # Tried innermost first: broken and healthy hold, then the outermost refuses.
    with (
        lg.budget(store=refusing),
        lg.budget(store=healthy),
        lg.budget(store=broken),
        pytest.raises(BudgetExceeded),
    ):
        lg.types.reserve(10)
    assert (healthy.held, healthy.settled) == (0, [None])
