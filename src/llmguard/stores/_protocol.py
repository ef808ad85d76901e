"""What a budget store is: the small protocol a `Budget` keeps its accounts through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["BudgetSnapshot", "BudgetStore", "Grant", "RateStore", "RateTake"]


@dataclass(frozen=True, slots=True)
class BudgetSnapshot:
    """A budget's counts, read together.

    Attributes:
        used: Tokens used by the calls reconciled so far.
        cost_usd: Dollars they cost (unpriced calls count 0).
        reserved: Tokens held for calls in flight.
        reserved_usd: Dollars held for calls in flight.
        calls: Calls reconciled so far.
        unpriced_calls: Reconciled calls whose cost was unknown.
    """

    used: int = 0
    cost_usd: float = 0.0
    reserved: int = 0
    reserved_usd: float = 0.0
    calls: int = 0
    unpriced_calls: int = 0


@dataclass(frozen=True, slots=True)
class Grant:
    """A store's answer to a reservation.

    Attributes:
        granted: Whether the call may go ahead.
        hold: What to hand back to `BudgetStore.settle`; ``None`` when nothing was
            held (the store could not be reached and fails open).
        state: The counts the decision was made on.
        limit: The cap that refused the call (``"max_tokens"`` or ``"max_cost_usd"``).
    """

    granted: bool
    hold: object | None
    state: BudgetSnapshot
    limit: str | None = None


@runtime_checkable
class BudgetStore(Protocol):
    """Where a shared budget keeps its accounts.

    A store checks and holds in one atomic step, so that no two processes can both
    take the last of a cap. It never raises into a call except `BudgetUnavailable`,
    when it cannot be reached and is configured to fail closed.
    """

    def reserve(
        self,
        tokens: int,
        cost_usd: float | None,
        *,
        max_tokens: int | None,
        max_cost_usd: float | None,
    ) -> Grant:
        """Hold ``tokens`` and ``cost_usd`` unless that would cross a cap.

        A call with an unknown cost (``None``) is refused under ``max_cost_usd``.

        Raises:
            BudgetUnavailable: The store cannot be reached and fails closed.
        """

    def settle(self, hold: object, charge: tuple[int, float | None] | None) -> None:
        """Drop a hold and charge ``(tokens, cost_usd)`` instead, or nothing (``None``).

        Never raises: a failure is reported, and the hold expires on its own.
        """

    def snapshot(self) -> BudgetSnapshot:
        """The counts now.

        Raises:
            BudgetUnavailable: The store cannot be reached.
        """


@dataclass(frozen=True, slots=True)
class RateTake:
    """A rate store's answer: taken, or how long to wait for room.

    Attributes:
        wait_tokens: Seconds until the tokens would fit; 0 when they were taken.
        wait_requests: Seconds until the request would fit; 0 when it was taken.
        used_tokens: Tokens the last minute has taken from the limit.
        used_requests: Requests the last minute has taken from the limit.
        enforced: ``False`` when the store could not be reached and fails open.
    """

    wait_tokens: float
    wait_requests: float
    used_tokens: float
    used_requests: float
    enforced: bool = True

    @property
    def taken(self) -> bool:
        """Whether the call's tokens and request were taken from the limits."""
        return self.wait_tokens <= 0 and self.wait_requests <= 0


@runtime_checkable
class RateStore(Protocol):
    """Where a rate limit keeps its buckets (a token bucket per limit)."""

    def take(
        self,
        tokens: float,
        requests: float,
        *,
        tokens_per_minute: int | None,
        requests_per_minute: int | None,
    ) -> RateTake:
        """Take ``tokens`` and ``requests`` together if both fit, else nothing.

        A negative ``tokens`` gives tokens back (never past the limit).

        Raises:
            BudgetUnavailable: The store cannot be reached and fails closed.
        """
