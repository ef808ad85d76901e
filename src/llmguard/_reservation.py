"""Reservations: holding a call's most in every active budget at once, then settling it.

A reservation is all or nothing across the budgets, local or kept in a store: it
either holds everywhere or is refused with `BudgetExceeded`, holding nothing.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from llmguard._budget_scope import active
from llmguard._trace import current_trace_id
from llmguard.exceptions import BudgetExceeded

if TYPE_CHECKING:
    from types import TracebackType

    from llmguard._budget import Budget
    from llmguard.stores import BudgetStore, Grant

# Dollar amounts are sums of floats; a nano-dollar of rounding is not a crossed cap.
_USD_TOLERANCE = 1e-9


def _refusal(
    budget: Budget,
    tokens: int,
    cost_usd: float | None,
    used: int,
    reserved: int,
    spent: float,
    reserved_cost: float,
) -> BudgetExceeded | None:
    """Why a budget in the given state must refuse the call, or ``None`` if it fits."""
    label = "budget" if budget.name is None else f"budget {budget.name!r}"
    maximum = budget.max_tokens
    if maximum is not None and used + reserved + tokens > maximum:
        return BudgetExceeded(
            f"{label} refused a call needing up to {tokens} tokens: {used} used "
            f"and {reserved} reserved by calls in flight, of max_tokens={maximum}",
            limit="max_tokens",
            maximum=maximum,
            used=used,
            requested=tokens,
            name=budget.name,
        )
    dollars = budget.max_cost_usd
    if dollars is None:
        return None
    if cost_usd is None:
        return BudgetExceeded(
            f"{label} has max_cost_usd={dollars} and the call's cost cannot "
            "be known: its model has no price (add one with llmguard.pricing.set)",
            limit="max_cost_usd",
            maximum=dollars,
            used=spent,
            name=budget.name,
        )
    if spent + reserved_cost + cost_usd - dollars > _USD_TOLERANCE:
        return BudgetExceeded(
            f"{label} refused a call costing up to ${cost_usd:.6f}: ${spent:.6f} "
            f"spent and ${reserved_cost:.6f} reserved by calls in flight, of "
            f"max_cost_usd={dollars}",
            limit="max_cost_usd",
            maximum=dollars,
            used=spent,
            requested=cost_usd,
            name=budget.name,
        )
    return None


class Reservation:
    """Tokens and dollars held in every budget that was active when it was made.

    End it with `reconcile` once the call has reported its usage, or `release` if the
    call failed before using anything; whichever comes first counts, later calls do
    nothing. Used as a context manager, a reservation still open at the end of the
    block is released if the block raised, and otherwise charged in full -- the
    reservation being the most the call could have used.
    """

    __slots__ = ("_done", "_holds", "budgets", "cost_usd", "tokens")

    def __init__(
        self,
        budgets: tuple[Budget, ...],
        tokens: int,
        cost_usd: float | None,
        holds: tuple[tuple[BudgetStore, object], ...] = (),
    ) -> None:
        self.budgets = budgets
        self.tokens = tokens
        self.cost_usd = cost_usd
        self._holds = holds  # what the shared budgets' stores hold for this reservation
        self._done = False

    @property
    def settled(self) -> bool:
        """Whether `reconcile` or `release` has ended the reservation."""
        return self._done

    def reconcile(self, tokens_used: int, cost_usd: float | None = None) -> None:
        """Replace the reservation by what the call used, in every budget it holds.

        Usage past the reservation is charged as reported: the budgets then refuse the
        next calls, but what was spent is never hidden.

        Args:
            tokens_used: Tokens the provider reported, input plus output.
            cost_usd: What the call cost. ``None`` if unknown: the reserved cost is
                charged instead when there was one, else the call counts in
                `Budget.unpriced_calls`.
        """
        _check_tokens(tokens_used)
        charged = self.cost_usd if cost_usd is None else _check_cost(cost_usd)
        self._settle((tokens_used, charged))

    def release(self) -> None:
        """Drop the reservation without charging anything: the call used nothing."""
        self._settle(None)

    def _settle(self, charge: tuple[int, float | None] | None) -> None:
        with _locked(self.budgets):
            if self._done:
                return
            self._done = True
            for held in self.budgets:
                if held.store is None:
                    held._settle(self.tokens, self.cost_usd, charge)
        # Stores are reached with no lock held; they report their own failures.
        for store, hold in self._holds:
            store.settle(hold, charge)

    def __enter__(self) -> Reservation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.release()
        else:
            self.reconcile(self.tokens, self.cost_usd)

    def __repr__(self) -> str:
        state = "settled" if self._done else "held"
        return (
            f"Reservation(tokens={self.tokens}, cost_usd={self.cost_usd}, "
            f"budgets={len(self.budgets)}, {state})"
        )


def reserve(tokens: int, cost_usd: float | None = None) -> Reservation:
    """Hold ``tokens`` and ``cost_usd`` in every active budget, or refuse the call.

    The check and the hold are one atomic step across all the budgets: a reservation
    that would take any of them past a cap is refused and holds nothing anywhere.
    With no budget active, the reservation is empty and costs nothing.

    Args:
        tokens: The most the call can use: its input plus its output cap.
        cost_usd: The most it can cost; ``None`` if its model has no price.

    Returns:
        The reservation, to `Reservation.reconcile` or `Reservation.release`.

    Raises:
        BudgetExceeded: A budget would be crossed (the innermost is reported); it
            carries the limit, its maximum, what was used, what was requested, the
            budget's name and the current trace id.
        ValueError: ``tokens`` or ``cost_usd`` is negative or not a number.
    """
    _check_tokens(tokens)
    if cost_usd is not None:
        cost_usd = _check_cost(cost_usd)
    budgets = active()
    if any(b.store is not None for b in budgets):
        return _reserve_shared(budgets, tokens, cost_usd)
    refusal: BudgetExceeded | None = None
    if budgets:
        with _locked(budgets):
            for held in reversed(budgets):
                refusal = held._refusal(tokens, cost_usd)
                if refusal is not None:
                    break
            else:
                for held in budgets:
                    held._hold(tokens, cost_usd)
    if refusal is not None:
        refusal.trace_id = current_trace_id()
        raise refusal
    return Reservation(budgets, tokens, cost_usd)


def _reserve_shared(
    budgets: tuple[Budget, ...], tokens: int, cost_usd: float | None
) -> Reservation:
    """`reserve` when some budgets keep their accounts in a store.

    Budgets are tried innermost first, as in `reserve`: a store's budget holds at once
    (its store checks and holds in one atomic step), a local one is only checked. On
    the first refusal the holds taken are given back. Then the local budgets check
    again and hold under their locks -- never held while a store is reached.
    """
    holds: list[tuple[BudgetStore, object]] = []
    refusal: BudgetExceeded | None = None
    try:
        for held in reversed(budgets):
            store = held.store
            if store is None:
                with held._lock:
                    refusal = held._refusal(tokens, cost_usd)
            else:
                grant = store.reserve(
                    tokens, cost_usd, max_tokens=held.max_tokens, max_cost_usd=held.max_cost_usd
                )
                if grant.granted:
                    if grant.hold is not None:
                        holds.append((store, grant.hold))
                else:
                    refusal = _store_refusal(held, grant, tokens, cost_usd)
            if refusal is not None:
                break
        else:
            local = tuple(b for b in budgets if b.store is None)
            with _locked(local):
                for held in reversed(local):
                    refusal = held._refusal(tokens, cost_usd)
                    if refusal is not None:
                        break
                else:
                    for held in local:
                        held._hold(tokens, cost_usd)
    except BaseException:
        _give_back(holds)
        raise
    if refusal is not None:
        _give_back(holds)
        refusal.trace_id = current_trace_id()
        raise refusal
    return Reservation(budgets, tokens, cost_usd, tuple(holds))


def _store_refusal(
    budget: Budget, grant: Grant, tokens: int, cost_usd: float | None
) -> BudgetExceeded:
    seen = grant.state
    refusal = _refusal(
        budget, tokens, cost_usd, seen.used, seen.reserved, seen.cost_usd, seen.reserved_usd
    )
    if refusal is not None:
        return refusal
    # The store decided on amounts the state it sent back shows rounded.
    label = "budget" if budget.name is None else f"budget {budget.name!r}"
    if grant.limit == "max_cost_usd":
        maximum, used, requested = budget.max_cost_usd or 0.0, seen.cost_usd, cost_usd
    else:
        maximum, used, requested = budget.max_tokens or 0, float(seen.used), float(tokens)
    return BudgetExceeded(
        f"{label} refused a call: {grant.limit} would be crossed",
        limit=grant.limit or "max_tokens",
        maximum=maximum,
        used=used,
        requested=requested,
        name=budget.name,
    )


def _give_back(holds: list[tuple[BudgetStore, object]]) -> None:
    for store, hold in holds:
        store.settle(hold, None)


def _check_tokens(tokens: object) -> None:
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise ValueError(f"tokens must be a non-negative int, not {tokens!r}")


def _check_cost(cost_usd: object) -> float:
    if (
        isinstance(cost_usd, bool)
        or not isinstance(cost_usd, (int, float))
        or not math.isfinite(cost_usd)
        or cost_usd < 0
    ):
        raise ValueError(f"cost_usd must be a non-negative number or None, not {cost_usd!r}")
    return float(cost_usd)


class _locked:
    """Hold the locks of several budgets, always taken in the same order (no deadlock)."""

    __slots__ = ("_locks",)

    def __init__(self, budgets: tuple[Budget, ...]) -> None:
        self._locks = [b._lock for b in sorted(budgets, key=id)]

    def __enter__(self) -> None:
        taken = 0
        try:
            for lock in self._locks:
                lock.acquire()
                taken += 1
        except BaseException:
            for lock in reversed(self._locks[:taken]):
                lock.release()
            raise

    def __exit__(self, *exc_info: object) -> None:
        for lock in reversed(self._locks):
            lock.release()
