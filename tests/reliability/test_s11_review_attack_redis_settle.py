"""RedisBudgetStore's settle, attacked after session 11 made it idempotent.

- A settled id was remembered for a fixed minute, yet redis-py may resend a script
  later than that after it ran: the store's own client after ``timeout`` seconds for
  the answer and as long again to reconnect; a default ``redis.Redis()`` client ten
  times over. A resend after the memory charged the call twice.
- Redis does not undo a script that fails halfway. The settle marked its id settled
  and dropped the hold before charging; a charge Redis refused (a usage report past
  its 64-bit integers) left the call uncharged and the budget open.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from llmguard.stores import RedisBudgetStore
from tests._helpers.redis_server import RedisServer, redis_server_or_skip


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own."""
    yield from redis_server_or_skip(tmp_path)


def _remembered_for_ms(client: Any, key: str) -> float:
    """How much longer the one id in a sorted set of remembered ids is kept (ms)."""
    ((_, until),) = client.zrange(key, 0, -1, withscores=True)
    seconds, micros = client.time()
    return float(until) - (seconds * 1000 + micros / 1000)


@pytest.mark.parametrize(
    ("options", "at_least_s"),
    [
        ({"timeout": 120.0}, 2 * (120 + 120)),  # one retry: the answer, then reconnecting
        ({"client": "default redis.Redis"}, 11 * (5 + 5)),  # ten retries of 5 s + 5 s
    ],
    ids=["own-client-timeout-120", "default-redis-py-client"],
)
def test_a_settled_id_is_remembered_as_long_as_a_retry_can_come(
    server: RedisServer, options: dict[str, Any], at_least_s: float
) -> None:
    """The settle's and the take's memory outlasts the client's retries, not just a minute."""
    if options.get("client"):
        options = {"client": redis.Redis(port=server.port)}
    else:
        options = {"url": server.url, **options}
    store = RedisBudgetStore(key="slow", **options)
    grant = store.reserve(10, None, max_tokens=100, max_cost_usd=None)
    store.settle(grant.hold, (10, None))
    store.take(1, 1, tokens_per_minute=1000, requests_per_minute=10)
    reader = redis.Redis(port=server.port)
    assert _remembered_for_ms(reader, "{slow}:settled") >= at_least_s * 1000
    assert _remembered_for_ms(reader, "{slow}:rate:taken") >= at_least_s * 1000
    assert store.snapshot().used == 10


def test_a_charge_past_redis_integers_closes_the_budget(server: RedisServer) -> None:
    """A call reported to use 10**20 tokens is charged past any cap, not dropped."""
    store = RedisBudgetStore(server.url, key="huge")
    grant = store.reserve(10, 0.01, max_tokens=1000, max_cost_usd=None)
    store.settle(grant.hold, (10**20, 0.01))
    snapshot = store.snapshot()
    assert (snapshot.used, snapshot.calls, snapshot.reserved) == (2**53, 1, 0)
    assert snapshot.cost_usd == pytest.approx(0.01)
    refused = store.reserve(10, 0.01, max_tokens=1000, max_cost_usd=None)
    assert (refused.granted, refused.limit) == (False, "max_tokens")
    again = store.reserve(10, 0.01, max_tokens=None, max_cost_usd=None)
    store.settle(again.hold, (2**53, 0.01))
    assert store.snapshot().used == 2**53  # stays at the top, no overflow error


def test_a_settle_redis_refuses_halfway_keeps_the_hold(server: RedisServer) -> None:
    """A charge Redis refuses leaves the hold in place (until its lease), not dropped uncharged."""
    store = RedisBudgetStore(server.url, key="broken")
    grant = store.reserve(40, None, max_tokens=100, max_cost_usd=None)
    redis.Redis(port=server.port).hset("{broken}:totals", "tokens", "not a number")
    store.settle(grant.hold, (40, None))
    assert store.snapshot().reserved == 40
    assert redis.Redis(port=server.port).exists("{broken}:settled") == 0
