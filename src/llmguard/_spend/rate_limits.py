"""Rate limits: tokens and requests per minute, in one process or shared through a store.

A `RateLimit` keeps one token bucket per limit: full at first, refilled continuously
at the per-minute rate, so a minute's worth can go at once and then calls are spaced
out. A call takes its tokens (its input plus its output cap, as budgets reserve) and
one request from both buckets at once, or from neither. When there is no room it
waits -- the bucket says how long -- or is refused with `RateLimitExceeded`.

The waiting is written once, as a generator that yields the seconds to wait
(`RateLimit.admission`); the sync driver sleeps, the async one awaits
``asyncio.sleep``, and the guarded flow turns each wait into a pause of the call.
Nothing sleeps with a lock held: a bucket is locked only to take from it.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Generator
from contextvars import ContextVar

from llmguard._core.context import Scoped
from llmguard._tracing.spans import current_trace_id
from llmguard.exceptions import ConfigurationError, RateLimitExceeded
from llmguard.stores import RateStore, RateTake

__all__ = ["Permit", "RateLimit", "active", "rate_limit"]

_active: ContextVar[tuple[RateLimit, ...]] = ContextVar("llmguard.rate_limits", default=())


class _LocalBuckets:
    """The in-process `RateStore`: two token buckets under one lock."""

    __slots__ = ("_clock", "_lock", "_requests", "_tokens", "_updated")

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._updated: float | None = None
        self._tokens: float | None = None  # free room; None until first used (full)
        self._requests: float | None = None

    def take(
        self,
        tokens: float,
        requests: float,
        *,
        tokens_per_minute: int | None,
        requests_per_minute: int | None,
    ) -> RateTake:
        with self._lock:
            now = self._clock()
            elapsed = 0.0 if self._updated is None else max(0.0, now - self._updated)
            free_tokens = _level(self._tokens, tokens_per_minute, elapsed)
            free_requests = _level(self._requests, requests_per_minute, elapsed)
            wait_tokens = _wait(tokens, free_tokens, tokens_per_minute)
            wait_requests = _wait(requests, free_requests, requests_per_minute)
            if wait_tokens == 0 and wait_requests == 0:
                self._updated = now
                if tokens_per_minute is not None:
                    free_tokens = min(tokens_per_minute, free_tokens - tokens)
                    self._tokens = free_tokens
                if requests_per_minute is not None:
                    free_requests = min(requests_per_minute, free_requests - requests)
                    self._requests = free_requests
        return RateTake(
            wait_tokens,
            wait_requests,
            0.0 if tokens_per_minute is None else tokens_per_minute - free_tokens,
            0.0 if requests_per_minute is None else requests_per_minute - free_requests,
        )


def _level(last: float | None, per_minute: int | None, elapsed: float) -> float:
    if per_minute is None:
        return 0.0
    if last is None:
        return float(per_minute)
    return min(float(per_minute), last + elapsed * per_minute / 60)


def _wait(amount: float, free: float, per_minute: int | None) -> float:
    if per_minute is None or amount <= 0 or amount <= free:
        return 0.0
    return (amount - free) * 60 / per_minute


class Permit:
    """The tokens and request a call took from a rate limit.

    `reconcile` gives back the tokens the call did not use (what it reported, against
    what it took); `release` gives back all of them, for a call that used nothing.
    The request stays counted either way: it was made. `cancel` gives back the
    request too, for a call that was not made after all. The first of them counts.
    """

    __slots__ = ("_done", "limit", "tokens")

    def __init__(self, limit: RateLimit, tokens: int) -> None:
        self.limit = limit
        self.tokens = tokens
        self._done = False

    def reconcile(self, tokens_used: int) -> None:
        """The call used ``tokens_used``: the rest of what it took goes back."""
        self._give_back(max(0, self.tokens - tokens_used))

    def release(self) -> None:
        """The call used no tokens: they all go back."""
        self._give_back(self.tokens)

    def cancel(self) -> None:
        """The call was not made: its tokens and its request go back."""
        self._give_back(self.tokens, request=True)

    def _give_back(self, tokens: int, *, request: bool = False) -> None:
        if self._done:
            return
        self._done = True
        limit = self.limit
        tpm, rpm = limit.tokens_per_minute, limit.requests_per_minute
        if (tokens > 0 and tpm is not None) or (request and rpm is not None):
            # Both buckets are named, the one not given to with nothing: a store keeps
            # one time for both, and a bucket left out would lose its refill since then.
            limit._store.take(
                -tokens, -1 if request else 0, tokens_per_minute=tpm, requests_per_minute=rpm
            )

    def __repr__(self) -> str:
        return f"Permit(tokens={self.tokens}, {'settled' if self._done else 'held'})"


class RateLimit(Scoped):
    """Tokens and requests per minute for the calls made through it.

    Build one with `rate_limit`. Apply it to a guard (``lg.guard(rate_limit=...)``),
    open it around code (``with limit:`` / ``async with limit:``, so that every
    guarded call inside goes through it), or take from it by hand with `acquire` /
    `acquire_async`.
    """

    _stack = _active

    def __init__(
        self,
        *,
        tokens_per_minute: int | None = None,
        requests_per_minute: int | None = None,
        store: RateStore | None = None,
        wait: bool = True,
        max_wait: float | None = None,
        name: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        for option, value in (
            ("tokens_per_minute", tokens_per_minute),
            ("requests_per_minute", requests_per_minute),
        ):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ConfigurationError(f"{option} must be a positive int or None, not {value!r}")
        if tokens_per_minute is None and requests_per_minute is None:
            raise ConfigurationError(
                "a rate limit needs tokens_per_minute, requests_per_minute or both"
            )
        if not isinstance(wait, bool):
            raise ConfigurationError(f"wait must be True or False, not {wait!r}")
        if max_wait is not None and (
            isinstance(max_wait, bool)
            or not isinstance(max_wait, (int, float))
            or not math.isfinite(max_wait)
            or max_wait < 0
        ):
            raise ConfigurationError(f"max_wait must be a number >= 0 or None, not {max_wait!r}")
        if name is not None and not isinstance(name, str):
            raise ConfigurationError(f"a rate limit's name must be a string, not {name!r}")
        if store is not None and not callable(getattr(store, "take", None)):
            raise ConfigurationError(f"store must be a rate store (take), not {store!r}")
        for option, fn in (("clock", clock), ("sleep", sleep)):
            if fn is not None and not callable(fn):
                raise ConfigurationError(f"{option} must be a callable, not {fn!r}")
        self.tokens_per_minute = tokens_per_minute
        self.requests_per_minute = requests_per_minute
        self.wait = wait
        self.max_wait = None if max_wait is None else float(max_wait)
        self.name = name
        self.clock = clock
        self.sleep = sleep
        self.store = store
        self._store: RateStore = store if store is not None else _LocalBuckets(clock)

    def __repr__(self) -> str:
        return (
            f"RateLimit(name={self.name!r}, tokens_per_minute={self.tokens_per_minute}, "
            f"requests_per_minute={self.requests_per_minute}, wait={self.wait}, "
            f"max_wait={self.max_wait})"
        )

    # -- taking ---------------------------------------------------------------------------

    def admission(self, tokens: int = 0) -> Generator[float, None, Permit]:
        """Take room for one call: yields each wait in seconds, returns the `Permit`.

        The sans-IO core of `acquire` and `acquire_async`; drive it to wait your own
        way.

        Raises:
            RateLimitExceeded: The call can never fit (more tokens than the per-minute
                limit), or there is no room and ``wait=False``, or the wait would pass
                ``max_wait``.
            BudgetUnavailable: A shared store cannot be reached and fails closed.
            ValueError: ``tokens`` is negative or not an int.
        """
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
            raise ValueError(f"tokens must be a non-negative int, not {tokens!r}")
        tpm = self.tokens_per_minute
        if tpm is not None and tokens > tpm:
            raise self._refusal("tokens_per_minute", tpm, 0.0, tokens, None)
        started = self.clock()
        while True:
            took = self._store.take(
                tokens, 1, tokens_per_minute=tpm, requests_per_minute=self.requests_per_minute
            )
            if took.taken:
                return Permit(self, tokens if took.enforced else 0)
            wait = max(took.wait_tokens, took.wait_requests)
            waited = self.clock() - started
            if not self.wait or (self.max_wait is not None and waited + wait > self.max_wait):
                if took.wait_tokens >= took.wait_requests:
                    assert tpm is not None
                    raise self._refusal("tokens_per_minute", tpm, took.used_tokens, tokens, wait)
                rpm = self.requests_per_minute
                assert rpm is not None
                raise self._refusal("requests_per_minute", rpm, took.used_requests, 1, wait)
            yield wait

    def acquire(self, tokens: int = 0) -> Permit:
        """Take room for one call of up to ``tokens`` tokens, waiting if allowed.

        Raises:
            RateLimitExceeded: See `admission`.
            BudgetUnavailable: A shared store cannot be reached and fails closed.
        """
        sleep = self.sleep or time.sleep
        flow = self.admission(tokens)
        try:
            while True:
                sleep(next(flow))
        except StopIteration as done:
            permit: Permit = done.value
            return permit

    async def acquire_async(self, tokens: int = 0) -> Permit:
        """`acquire` for async code: waits with ``asyncio.sleep`` (or the injected sleep).

        Raises:
            RateLimitExceeded: See `admission`.
            BudgetUnavailable: A shared store cannot be reached and fails closed.
        """
        flow = self.admission(tokens)
        try:
            while True:
                seconds = next(flow)
                if self.sleep is None:
                    await asyncio.sleep(seconds)
                else:
                    waited = self.sleep(seconds)
                    if asyncio.iscoroutine(waited):
                        await waited
        except StopIteration as done:
            permit: Permit = done.value
            return permit

    def _refusal(
        self, limit: str, maximum: int, used: float, requested: int, retry_after: float | None
    ) -> RateLimitExceeded:
        label = "rate limit" if self.name is None else f"rate limit {self.name!r}"
        if retry_after is None:
            why = f"asks for {requested}, more than the whole {limit}={maximum}"
        elif not self.wait:
            why = f"would have to wait {retry_after:.2f} s for room, and wait=False"
        else:
            why = f"would have to wait {retry_after:.2f} s for room, past max_wait={self.max_wait}"
        return RateLimitExceeded(
            f"{label} refused a call: it {why} ({used:.0f} of {limit}={maximum} used "
            "in the last minute)",
            limit=limit,
            maximum=maximum,
            used=used,
            requested=requested,
            name=self.name,
            trace_id=current_trace_id(),
            retry_after=retry_after,
        )


def rate_limit(
    *,
    tokens_per_minute: int | None = None,
    requests_per_minute: int | None = None,
    store: RateStore | None = None,
    wait: bool = True,
    max_wait: float | None = None,
    name: str | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] | None = None,
) -> RateLimit:
    """A rate limit on tokens and requests per minute.

    ``lg.guard(rate_limit=limit)`` puts every call of the guarded function through it;
    ``with limit:`` (or ``async with``) every guarded call made inside. Before each
    attempt, the call takes its tokens -- its counted input plus its output cap -- and
    one request; after it, the tokens it did not use go back.

    Args:
        tokens_per_minute: Most tokens per minute; ``None`` for no token limit.
        requests_per_minute: Most calls per minute; ``None`` for no request limit.
        store: ``None`` keeps the limit in this process; a store such as
            `llmguard.stores.RedisBudgetStore` shares it with every process using it.
        wait: Wait for room (``True``, the default) or refuse at once.
        max_wait: Most seconds to wait for one call; past it, refuse.
        name: Shown in errors.
        clock: Monotonic seconds, for ``max_wait`` and the in-process buckets (tests).
        sleep: Used by `RateLimit.acquire` / `RateLimit.acquire_async` instead of
            ``time.sleep`` / ``asyncio.sleep`` (tests). A guarded call pauses with its
            guard's ``sleep``.

    Raises:
        ConfigurationError: No limit given, or an option is invalid.
    """
    return RateLimit(
        tokens_per_minute=tokens_per_minute,
        requests_per_minute=requests_per_minute,
        store=store,
        wait=wait,
        max_wait=max_wait,
        name=name,
        clock=clock,
        sleep=sleep,
    )


def active() -> tuple[RateLimit, ...]:
    """The rate limits open in the current context, outermost first, each once."""
    stack = _active.get()
    if len(stack) < 2:
        return stack
    return tuple(dict.fromkeys(stack))


def limits_for(own: RateLimit | None) -> tuple[RateLimit, ...]:
    """A guard's own rate limit and the open ones, each once."""
    opened = _active.get()
    if own is None:
        return active() if opened else ()
    return tuple(dict.fromkeys((*opened, own)))


def admit_all(
    limits: tuple[RateLimit, ...], tokens: int
) -> Generator[float, None, tuple[Permit, ...]]:
    """Take from each limit in turn, yielding the waits; give back on a refusal."""
    permits: list[Permit] = []
    try:
        for limit in limits:
            permit = yield from limit.admission(tokens)
            permits.append(permit)
    except BaseException:
        for permit in permits:
            permit.cancel()
        raise
    return tuple(permits)
