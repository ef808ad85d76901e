"""Budgets: token and dollar caps shared by every model call made inside them.

A `Budget` is opened with ``with`` / ``async with`` or applied as a decorator. While it
is open it is *active* in its context -- the current thread, the asyncio tasks created
inside it, the threads started through ``lg.propagate`` -- and every call is charged
to it and to every enclosing budget.

Calls are charged in two steps, so that money is never spent past a cap by calls in
flight. `reserve` holds, in every active budget at once, what a call could use at most
(its input plus its output cap, and the matching cost), or refuses with
`BudgetExceeded` before the call is made, holding nothing anywhere. When the call is
done, `Reservation.reconcile` replaces the hold by what the provider reported, or
`Reservation.release` drops it if the call failed before using anything.

A budget keeps its accounts in its own process by default. Given a ``store`` (a
`llmguard.stores.BudgetStore`, such as `llmguard.stores.RedisBudgetStore`), it keeps
them there instead, so that processes sharing the store share one cap. A reservation
across several budgets is still all or nothing: holds taken in stores are given back
when another budget refuses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from threading import Lock
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from llmguard._budget_scope import _active, _Decorated, active
from llmguard._context import Scoped
from llmguard._reservation import Reservation, _refusal, reserve
from llmguard._wrap import unwrap_callable, wrap
from llmguard.exceptions import BudgetExceeded, ConfigurationError

if TYPE_CHECKING:
    from llmguard.stores import BudgetSnapshot, BudgetStore

__all__ = ["Budget", "Reservation", "active", "budget", "reserve"]

P = ParamSpec("P")
R = TypeVar("R")


class Budget(Scoped):
    """A cap on the tokens and dollars of every call made while it is open.

    Use it as a context manager (``with`` or ``async with``) or as a decorator on a
    function, coroutine function, generator or async generator. A budget is one
    accumulator: entering it again, or calling a decorated function again, charges
    the same totals, so a decorated function's calls share the budget between them.
    Budgets nest: a call is charged to every budget open around it.

    A budget with neither cap only counts. It is safe to share between threads and
    asyncio tasks.

    Args:
        max_tokens: Most tokens (input plus output) the calls may use together.
        max_cost_usd: Most US dollars the calls may cost together. A call whose cost
            cannot be known beforehand -- its model has no price, see
            `llmguard.pricing.set` -- is refused by a budget with a dollar cap.
        name: Shown in errors and records.
        store: Where the accounts are kept: ``None`` (the default) keeps them in this
            budget, in this process; a `llmguard.stores.BudgetStore` shares them with
            every budget of every process using the same store. With a store, each
            property reads the store (and raises `BudgetUnavailable` when it cannot).

    Raises:
        ConfigurationError: A cap is negative or not a number (``max_tokens`` must be
            an int), ``name`` is not a string, or ``store`` is not a budget store.
    """

    _stack = _active

    __slots__ = (
        "_calls",
        "_cost",
        "_held",
        "_lock",
        "_reserved",
        "_reserved_cost",
        "_unpriced",
        "_used",
        "max_cost_usd",
        "max_tokens",
        "name",
        "store",
    )

    def __init__(
        self,
        *,
        max_tokens: int | None = None,
        max_cost_usd: float | None = None,
        name: str | None = None,
        store: BudgetStore | None = None,
    ) -> None:
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0
        ):
            raise ConfigurationError(
                f"max_tokens must be a non-negative int or None, not {max_tokens!r}"
            )
        if max_cost_usd is not None and (
            isinstance(max_cost_usd, bool)
            or not isinstance(max_cost_usd, (int, float))
            or not math.isfinite(max_cost_usd)
            or max_cost_usd < 0
        ):
            raise ConfigurationError(
                f"max_cost_usd must be a non-negative number or None, not {max_cost_usd!r}"
            )
        if name is not None and not isinstance(name, str):
            raise ConfigurationError(f"a budget name must be a string, not {name!r}")
        if store is not None and not all(
            callable(getattr(store, method, None)) for method in ("reserve", "settle", "snapshot")
        ):
            raise ConfigurationError(
                f"store must be a budget store (reserve, settle, snapshot), not {store!r}"
            )
        self.store = store
        self.max_tokens = max_tokens
        self.max_cost_usd = None if max_cost_usd is None else float(max_cost_usd)
        self.name = name
        self._lock = Lock()
        self._used = 0
        self._cost = 0.0
        self._reserved = 0
        self._reserved_cost = 0.0
        self._held = 0
        self._calls = 0
        self._unpriced = 0

    # -- what it has used ---------------------------------------------------------------

    def snapshot(self) -> BudgetSnapshot:
        """Every count at once, read together (one round trip for a shared budget).

        Raises:
            BudgetUnavailable: The budget's store cannot be reached.
        """
        if self.store is not None:
            return self.store.snapshot()
        from llmguard.stores import BudgetSnapshot

        with self._lock:
            return BudgetSnapshot(
                used=self._used,
                cost_usd=self._cost,
                reserved=self._reserved,
                reserved_usd=self._reserved_cost,
                calls=self._calls,
                unpriced_calls=self._unpriced,
            )

    @property
    def used(self) -> int:
        """Tokens used by the calls reconciled so far."""
        if self.store is not None:
            return self.store.snapshot().used
        with self._lock:
            return self._used

    @property
    def cost_usd(self) -> float:
        """Dollars spent by the calls reconciled so far (unpriced calls count 0)."""
        if self.store is not None:
            return self.store.snapshot().cost_usd
        with self._lock:
            return self._cost

    @property
    def reserved(self) -> int:
        """Tokens held for calls in flight."""
        if self.store is not None:
            return self.store.snapshot().reserved
        with self._lock:
            return self._reserved

    @property
    def reserved_usd(self) -> float:
        """Dollars held for calls in flight."""
        if self.store is not None:
            return self.store.snapshot().reserved_usd
        with self._lock:
            return self._reserved_cost

    @property
    def remaining(self) -> int | None:
        """Tokens still free for new calls (the cap less used and reserved); ``None``
        without a token cap."""
        if self.max_tokens is None:
            return None
        if self.store is not None:
            seen = self.store.snapshot()
            return max(0, self.max_tokens - seen.used - seen.reserved)
        with self._lock:
            return max(0, self.max_tokens - self._used - self._reserved)

    @property
    def remaining_usd(self) -> float | None:
        """Dollars still free for new calls; ``None`` without a dollar cap."""
        if self.max_cost_usd is None:
            return None
        if self.store is not None:
            seen = self.store.snapshot()
            return max(0.0, self.max_cost_usd - seen.cost_usd - seen.reserved_usd)
        with self._lock:
            return max(0.0, self.max_cost_usd - self._cost - self._reserved_cost)

    @property
    def calls(self) -> int:
        """Calls reconciled so far (released reservations are not counted)."""
        if self.store is not None:
            return self.store.snapshot().calls
        with self._lock:
            return self._calls

    @property
    def unpriced_calls(self) -> int:
        """Reconciled calls whose cost was unknown, so `cost_usd` leaves them out."""
        if self.store is not None:
            return self.store.snapshot().unpriced_calls
        with self._lock:
            return self._unpriced

    def __repr__(self) -> str:
        if self.store is not None:  # no round trip to a store just to show the budget
            return (
                f"Budget(name={self.name!r}, store={self.store!r}, "
                f"max_tokens={self.max_tokens}, max_cost_usd={self.max_cost_usd})"
            )
        with self._lock:
            return (
                f"Budget(name={self.name!r}, used={self._used}, reserved={self._reserved}, "
                f"max_tokens={self.max_tokens}, cost_usd={self._cost:.6f}, "
                f"max_cost_usd={self.max_cost_usd})"
            )

    # -- activation ---------------------------------------------------------------------

    def __call__(self, fn: Callable[P, R], /) -> Callable[P, R]:
        """Open the budget around every call of ``fn``; the calls share its totals.

        Raises:
            ConfigurationError: ``fn`` is not callable.
        """
        if not callable(unwrap_callable(fn)):
            raise ConfigurationError(f"a budget can decorate a function, not {fn!r}")
        return wrap(fn, _Decorated(self))

    # -- accounting, always with the lock held ------------------------------------------

    def _refusal(self, tokens: int, cost_usd: float | None) -> BudgetExceeded | None:
        return _refusal(
            self, tokens, cost_usd, self._used, self._reserved, self._cost, self._reserved_cost
        )

    def _hold(self, tokens: int, cost_usd: float | None) -> None:
        self._reserved += tokens
        self._reserved_cost += cost_usd or 0.0
        self._held += 1

    def _settle(
        self,
        held_tokens: int,
        held_cost: float | None,
        charge: tuple[int, float | None] | None,
    ) -> None:
        self._held -= 1
        if self._held == 0:
            # Nothing in flight: drop the float residue of the additions and subtractions.
            self._reserved, self._reserved_cost = 0, 0.0
        else:
            self._reserved -= held_tokens
            self._reserved_cost -= held_cost or 0.0
        if charge is not None:
            tokens, cost_usd = charge
            self._used += tokens
            self._calls += 1
            if cost_usd is None:
                self._unpriced += 1
            else:
                self._cost += cost_usd


def budget(
    *,
    max_tokens: int | None = None,
    max_cost_usd: float | None = None,
    name: str | None = None,
    store: BudgetStore | None = None,
) -> Budget:
    """A budget for the calls made inside it: ``with lg.budget(max_tokens=...):``.

    Also a decorator: ``@lg.budget(max_cost_usd=0.5)``. Pass ``store=`` (for instance
    ``lg.stores.RedisBudgetStore(url, key="support-bot")``) to share the budget
    between processes. See `Budget`.

    Raises:
        ConfigurationError: A cap is negative or not a number, or ``store`` is not a
            budget store.
    """
    return Budget(max_tokens=max_tokens, max_cost_usd=max_cost_usd, name=name, store=store)
