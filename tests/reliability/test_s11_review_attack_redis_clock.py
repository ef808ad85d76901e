"""RedisBudgetStore with a worker whose clock is behind the Redis server's.

The window's keys were given an expiry computed from the worker's clock (the window's
end, a lease and a minute later). A worker a few minutes behind the server asked for
an expiry already past by the server's clock, which Redis honours by deleting the
key at once: with ``window="minute"`` the holds and the totals vanished as they were
written, every call was admitted, and each reconcile warned of a lease running out.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmguard.stores import RedisBudgetStore
from tests._helpers.redis_server import RedisServer, redis_server_or_skip


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own."""
    yield from redis_server_or_skip(tmp_path)


def test_a_worker_five_minutes_behind_the_server_is_still_held_to_the_cap(
    server: RedisServer,
) -> None:
    """Holds and totals written by a slow-clocked worker stay, and the cap refuses."""
    store = RedisBudgetStore(
        server.url,
        key="skewed",
        window="minute",
        lease_seconds=5,
        clock=lambda: time.time() - 300,
    )
    first = store.reserve(60, None, max_tokens=100, max_cost_usd=None)
    second = store.reserve(60, None, max_tokens=100, max_cost_usd=None)
    assert (first.granted, second.granted, second.limit) == (True, False, "max_tokens")
    store.settle(first.hold, (60, None))
    snapshot = store.snapshot()
    assert (snapshot.used, snapshot.calls, snapshot.reserved) == (60, 1, 0)
    assert store.reserve(60, None, max_tokens=100, max_cost_usd=None).granted is False
