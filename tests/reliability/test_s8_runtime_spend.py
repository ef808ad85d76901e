"""Review attacks on rate limits: giving tokens back must not cost the other bucket."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import llmguard as lg
from llmguard.stores import RedisBudgetStore
from tests._helpers.redis_server import RedisServer, redis_server_or_skip


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def admitted(limit: lg.RateLimit, tokens: int, most: int) -> int:
    """How many calls of ``tokens`` the limit admits now, without waiting."""
    count = 0
    while count < most:
        try:
            limit.acquire(tokens=tokens)
        except lg.RateLimitExceeded:
            break
        count += 1
    return count


@pytest.mark.parametrize("settle", ["reconcile", "release", "cancel"])
def test_settling_a_permit_keeps_the_requests_that_refilled_meanwhile(settle: str) -> None:
    """60 requests a minute, all taken at 0 s: 30 s later 30 are free again, and a
    permit settled then (as the guard settles every attempt) does not take them away."""
    clock = Clock()
    limit = lg.rate_limit(tokens_per_minute=6_000, requests_per_minute=60, wait=False, clock=clock)
    permits = [limit.acquire(tokens=10) for _ in range(60)]
    assert admitted(limit, 10, 1) == 0
    clock.now = 30.0
    getattr(permits[0], settle)(*([5] if settle == "reconcile" else []))
    expected = 31 if settle == "cancel" else 30  # a cancelled call's request comes back
    assert admitted(limit, 10, 40) == expected


def test_giving_back_requests_keeps_the_tokens_that_refilled_meanwhile() -> None:
    """The same for the token bucket: a cancelled permit of no tokens gives back its
    request without dropping the tokens refilled since the last take."""
    clock = Clock()
    limit = lg.rate_limit(tokens_per_minute=600, requests_per_minute=1_000, wait=False, clock=clock)
    permits = [limit.acquire(tokens=100) for _ in range(6)]
    free = limit.acquire(tokens=0)  # a call that takes a request and no tokens
    assert admitted(limit, 100, 1) == 0
    clock.now = 30.0  # 300 tokens refilled
    free.cancel()
    assert admitted(limit, 100, 10) == 3
    assert len(permits) == 6


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own."""
    yield from redis_server_or_skip(tmp_path)


def test_a_shared_limit_keeps_its_refill_when_a_permit_is_settled(server: RedisServer) -> None:
    """Through Redis (the server's clock): requests refilled while calls ran are still
    there after one of them is reconciled."""
    store = RedisBudgetStore(server.url, key="s8-rate")
    limit = lg.rate_limit(
        tokens_per_minute=600_000, requests_per_minute=600, wait=False, store=store
    )
    permits = [limit.acquire(tokens=10) for _ in range(600)]
    admitted(limit, 10, 100)  # and what refilled while they were taken: none left
    time.sleep(0.6)  # about 6 requests refill (10 a second)
    permits[0].reconcile(5)
    assert admitted(limit, 10, 20) >= 3


def test_a_budget_open_across_a_yield_is_charged_after_it() -> None:
    """In a generator under ``@lg.budget``, a budget opened around a ``yield`` is still
    open when the generator resumes: the call after the yield is charged to it too,
    and the consumer's calls never are."""
    outer = lg.budget(max_tokens=10_000, name="outer")
    inner = lg.budget(max_tokens=10_000, name="inner")

    @outer
    def work() -> Iterator[int]:
        with inner:
            lg.types.reserve(10).reconcile(10)
            yield 1
            lg.types.reserve(20).reconcile(20)
            yield 2
        lg.types.reserve(40).reconcile(40)
        yield 3

    for _ in work():
        lg.types.reserve(1_000).reconcile(1_000)  # the consumer's: outside both
    assert (inner.used, outer.used) == (30, 70)
