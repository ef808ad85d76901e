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

import logging
import math
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from threading import Lock
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

from llmguard._core.context import Scoped
from llmguard._core.records import StreamEnd
from llmguard._core.wrap import Wrapped, unwrap_callable, wrap
from llmguard._tracing.spans import current_trace_id
from llmguard._tracing.stepping import astepped, stepped
from llmguard.exceptions import BudgetExceeded, ConfigurationError
from llmguard.stores import BudgetSnapshot, BudgetStore, Grant

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["Budget", "Reservation", "active", "budget", "refused_by", "reserve"]

P = ParamSpec("P")
R = TypeVar("R")


# -- which budgets are open in the current context, and how ``@budget`` opens one per call


_active: ContextVar[tuple[Budget, ...]] = ContextVar("llmguard.budgets", default=())


def active() -> tuple[Budget, ...]:
    """The budgets open in the current context, outermost first, each once."""
    stack = _active.get()
    if len(stack) < 2:
        return stack
    return tuple(dict.fromkeys(stack))


class _BudgetHandler:
    """The handler behind ``@budget``: the budget active only while the function runs."""

    __slots__ = ("budget",)

    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    def call(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        token = _active.set((*_active.get(), self.budget))
        try:
            return wrapped(*args, **kwargs)
        finally:
            _active.reset(token)

    async def acall(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        token = _active.set((*_active.get(), self.budget))
        try:
            return await wrapped(*args, **kwargs)
        finally:
            _active.reset(token)

    def gen(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Iterator[Any]:
        return stepped(_active, self._watch, lambda: wrapped(*args, **kwargs))

    def agen(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> AsyncIterator[Any]:
        return astepped(_active, self._watch, lambda: wrapped(*args, **kwargs))

    def _watch(self) -> _Opened:
        return _Opened(self.budget)


class _Opened:
    """A decorated generator's budget, open during each of its steps.

    Each step opens it on the stack of the context the consumer steps it from.
    """

    __slots__ = ("budget",)

    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    def value(self) -> tuple[Budget, ...]:
        return (*_active.get(), self.budget)

    def item(self) -> None:
        pass

    def ended(self, end: StreamEnd, error: BaseException | None) -> None:
        pass


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
            `llmguard.pricing.set_price` -- is refused by a budget with a dollar cap,
            unless ``unpriced="allow"``.
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
        "unpriced",
    )

    def __init__(
        self,
        *,
        max_tokens: int | None = None,
        max_cost_usd: float | None = None,
        name: str | None = None,
        store: BudgetStore | None = None,
        unpriced: Literal["refuse", "allow"] = "refuse",
    ) -> None:
        if unpriced not in ("refuse", "allow"):
            raise ConfigurationError(f"unpriced must be 'refuse' or 'allow', not {unpriced!r}")
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
        self.unpriced = unpriced
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
        return wrap(fn, _BudgetHandler(self))

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
    unpriced: Literal["refuse", "allow"] = "refuse",
) -> Budget:
    """A budget for the calls made inside it: ``with lg.budget(max_tokens=...):``.

    Also a decorator: ``@lg.budget(max_cost_usd=0.5)``. Pass ``store=`` (for instance
    ``lg.stores.RedisBudgetStore(url, key="support-bot")``) to share the budget
    between processes, and ``unpriced="allow"`` to let a dollar cap admit calls of
    models with no price. See `Budget`.

    Raises:
        ConfigurationError: A cap is negative or not a number, ``store`` is not a
            budget store, or ``unpriced`` is not ``"refuse"`` or ``"allow"``.
    """
    return Budget(
        max_tokens=max_tokens,
        max_cost_usd=max_cost_usd,
        name=name,
        store=store,
        unpriced=unpriced,
    )


# -- Reservations: holding a call's most in every active budget at once, then settling it.

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
    if dollars is None or (cost_usd is None and budget.unpriced == "allow"):
        return None
    if cost_usd is None:
        return BudgetExceeded(
            f"{label} has max_cost_usd={dollars} and the call's cost cannot "
            "be known: its model has no price (add one with llmguard.pricing.set_price, "
            "or open the budget with unpriced='allow')",
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
            _settle_in(store, hold, charge)

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


# The budget behind each refusal still alive (weakly): names and caps can repeat, so an
# agent nested in another tells its own budget's refusals from its parent's by this.
_refusers: weakref.WeakKeyDictionary[BudgetExceeded, Budget] = weakref.WeakKeyDictionary()


def refused_by(refusal: BudgetExceeded) -> Budget | None:
    """The budget that refused a call with ``refusal``, if `reserve` raised it."""
    return _refusers.get(refusal)


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
                    _refusers[refusal] = held
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
                # An unpriced call a budget allows is held to its token cap only.
                allowed = cost_usd is None and held.unpriced == "allow"
                grant = store.reserve(
                    tokens,
                    cost_usd,
                    max_tokens=held.max_tokens,
                    max_cost_usd=None if allowed else held.max_cost_usd,
                )
                if grant.granted:
                    if grant.hold is not None:
                        holds.append((store, grant.hold))
                else:
                    refusal = _store_refusal(held, grant, tokens, cost_usd)
            if refusal is not None:
                _refusers[refusal] = held
                break
        else:
            local = tuple(b for b in budgets if b.store is None)
            with _locked(local):
                for held in reversed(local):
                    refusal = held._refusal(tokens, cost_usd)
                    if refusal is not None:
                        _refusers[refusal] = held
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
        _settle_in(store, hold, None)


def _settle_in(store: BudgetStore, hold: object, charge: tuple[int, float | None] | None) -> None:
    """``store.settle``, which is not to raise; one that does is reported, not raised:
    the call is over, and the other stores are still to be settled."""
    try:
        store.settle(hold, charge)
    except Exception as exc:
        problem = f"budget store {type(store).__name__} failed to settle a reservation"
        try:
            from llmguard._delivery.pipeline import report

            report(problem, exc)
        except Exception:  # reporting must not break the call it reports on
            logging.getLogger("llmguard").warning("llmguard: %s", problem)


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
