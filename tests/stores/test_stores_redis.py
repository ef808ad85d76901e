"""RedisBudgetStore: budgets and rate limits shared by processes, against a real redis-server.

Each test that needs Redis gets its own server on a free loopback port
(tests/_helpers/redis_server.py); it is skipped where redis-server is missing, except in CI.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import random
import signal
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import llmguard as lg
from llmguard._spend.rate_limits import rate_limit
from llmguard.exceptions import (
    BudgetExceeded,
    BudgetUnavailable,
    ConfigurationError,
    RateLimitExceeded,
)
from llmguard.stores import BudgetSnapshot, BudgetStore, RateStore, RedisBudgetStore
from llmguard.testing import FakeLLM
from tests._helpers.redis_server import RedisServer, redis_server_or_skip
from tests.conftest import ListSink

MODEL = "gpt-4o-mini"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own."""
    yield from redis_server_or_skip(tmp_path)


def store(server: RedisServer, key: str = "test", **options: Any) -> RedisBudgetStore:
    return RedisBudgetStore(server.url, key=key, **options)


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


# -- construction ------------------------------------------------------------------------


def test_without_redis_py_the_store_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Creating a store with redis-py missing is a ConfigurationError naming the extra."""
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'llmguard\[redis\]'"):
        RedisBudgetStore("redis://127.0.0.1:1/0", key="k")


def test_importing_llmguard_does_not_import_redis() -> None:
    """redis-py is imported only when a store is created."""
    import subprocess

    code = "import sys, llmguard, llmguard.stores; print('redis' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"key": ""}, "key"),
        ({"key": "k", "window": "week"}, "window"),
        ({"key": "k", "on_unavailable": "maybe"}, "on_unavailable"),
        ({"key": "k", "lease_seconds": 0}, "lease_seconds"),
        ({"key": "k", "timeout": float("nan")}, "timeout"),
        ({"key": "k", "clock": 5}, "clock"),
    ],
)
def test_invalid_options_are_configuration_errors(options: dict[str, Any], named: str) -> None:
    """Each invalid option is refused at construction, by name."""
    with pytest.raises(ConfigurationError, match=named):
        RedisBudgetStore("redis://127.0.0.1:1/0", **options)


def test_the_store_needs_exactly_one_of_url_and_client() -> None:
    """Neither, or both, is a ConfigurationError."""
    with pytest.raises(ConfigurationError, match="url or a client"):
        RedisBudgetStore(key="k")
    with pytest.raises(ConfigurationError, match="invalid Redis url"):
        RedisBudgetStore("http://nowhere", key="k")


def test_the_password_never_shows() -> None:
    """The URL kept for messages and errors has its password masked."""
    secret = RedisBudgetStore("redis://user:hunter2@127.0.0.1:1/0", key="k")
    assert secret.url == "redis://user:***@127.0.0.1:1/0"
    assert "hunter2" not in repr(secret)
    anonymous = RedisBudgetStore("redis://:hunter2@127.0.0.1/0", key="k")
    assert anonymous.url == "redis://:***@127.0.0.1/0"


def test_a_budget_refuses_a_store_that_is_not_one() -> None:
    """lg.budget(store=...) checks the store's methods at construction."""
    with pytest.raises(ConfigurationError, match="store"):
        lg.budget(store=object())  # type: ignore[arg-type]


def test_the_store_implements_both_protocols() -> None:
    """RedisBudgetStore is a BudgetStore and a RateStore."""
    redis_store = RedisBudgetStore("redis://127.0.0.1:1/0", key="k")
    assert isinstance(redis_store, BudgetStore)
    assert isinstance(redis_store, RateStore)


# -- one process -------------------------------------------------------------------------


def test_a_shared_budget_reserves_refuses_and_reconciles(server: RedisServer) -> None:
    """The in-process semantics, kept in Redis: hold, refuse in flight, charge usage."""
    with lg.budget(max_tokens=1_000, name="report", store=store(server)) as report:
        first = lg.types.reserve(800)
        assert (report.reserved, report.remaining) == (800, 200)
        with pytest.raises(BudgetExceeded) as refused:
            lg.types.reserve(300)
        assert (refused.value.limit, refused.value.used, refused.value.requested) == (
            "max_tokens",
            0,
            300,
        )
        assert refused.value.name == "report"
        first.reconcile(350)
        lg.types.reserve(300).reconcile(120)
    assert (report.used, report.calls, report.remaining, report.reserved) == (470, 2, 530, 0)
    assert "store=RedisBudgetStore" in repr(report)


def test_two_budgets_with_one_key_share_their_totals(server: RedisServer) -> None:
    """Budgets built apart (as in two processes) with the same key are one account."""
    a = lg.budget(max_tokens=500, store=store(server, "shared"))
    b = lg.budget(max_tokens=500, store=store(server, "shared"))
    with a:
        lg.types.reserve(400).reconcile(400)
    with b, pytest.raises(BudgetExceeded):
        lg.types.reserve(200)
    assert b.used == 400


def test_dollars_are_held_and_charged_and_unknown_costs_refused(server: RedisServer) -> None:
    """A dollar cap holds worst-case costs, charges real ones, refuses unpriced calls."""
    shared = lg.budget(max_cost_usd=0.01, store=store(server))
    with shared:
        held = lg.types.reserve(1_000, 0.004)
        assert shared.reserved_usd == pytest.approx(0.004)
        with pytest.raises(BudgetExceeded) as refused:
            lg.types.reserve(10, 0.007)
        assert refused.value.limit == "max_cost_usd"
        with pytest.raises(BudgetExceeded, match="no price"):
            lg.types.reserve(10)
        held.reconcile(600, 0.0025)
        lg.types.reserve(10, 0.007).reconcile(10, 1e-05)
    seen = shared.snapshot()
    assert seen.cost_usd == pytest.approx(0.00251)
    assert shared.remaining_usd == pytest.approx(0.01 - 0.00251)
    assert (seen.calls, seen.unpriced_calls, seen.reserved_usd) == (2, 0, 0.0)


def test_a_token_only_budget_counts_unpriced_calls(server: RedisServer) -> None:
    """Without a dollar cap, a call of unknown cost is admitted and counted as unpriced."""
    shared = lg.budget(max_tokens=100, store=store(server))
    with shared:
        lg.types.reserve(50).reconcile(40)
    assert (shared.unpriced_calls, shared.cost_usd, shared.remaining_usd) == (1, 0.0, None)


def test_a_released_reservation_charges_nothing(server: RedisServer) -> None:
    """release() drops the hold in Redis without counting a call."""
    shared = lg.budget(max_tokens=100, store=store(server))
    with shared:
        lg.types.reserve(100).release()
        with lg.types.reserve(100):
            pass  # charged in full: the block ended without reconcile
    assert shared.snapshot() == BudgetSnapshot(used=100, calls=1, unpriced_calls=1)


def test_nested_shared_and_local_budgets_are_all_or_nothing(server: RedisServer) -> None:
    """A refusal by any budget leaves nothing held in the others, local or shared."""
    outer = lg.budget(max_tokens=1_000, store=store(server, "outer"))
    middle = lg.budget(max_tokens=1_000, store=store(server, "middle"))
    with outer, middle:
        with lg.budget(max_tokens=50, name="inner") as inner, pytest.raises(BudgetExceeded):
            lg.types.reserve(100)  # the local inner refuses first: nothing reaches Redis
        assert (outer.reserved, middle.reserved, inner.reserved) == (0, 0, 0)
        lg.types.reserve(900).reconcile(900)  # outer and middle: 900 used
        tight = lg.budget(max_tokens=10_000, store=store(server, "tight"))
        with tight, lg.budget(max_tokens=10_000) as local, pytest.raises(BudgetExceeded):
            lg.types.reserve(200)  # tight and local fit, middle refuses
        assert (tight.reserved, local.reserved, outer.reserved) == (0, 0, 0)
        with lg.budget(max_tokens=10_000) as local:
            lg.types.reserve(100).reconcile(60)
        assert local.used == 60
    assert (outer.used, middle.used) == (960, 960)


def test_a_budget_refusal_in_a_guarded_call_is_made_before_the_call(
    server: RedisServer,
) -> None:
    """Guarded calls reserve in Redis before the call and reconcile from its usage."""
    llm = FakeLLM(["Paris.", "never"], model=MODEL)

    @lg.guard(model=MODEL, max_output_tokens=150)
    def ask(messages: list[dict[str, Any]], max_tokens: int | None = None) -> Any:
        return llm(model=MODEL, messages=messages, max_tokens=max_tokens)

    # The first call holds about 160 tokens and uses far fewer; the second's 160 more
    # would cross 170.
    shared = lg.budget(max_tokens=170, store=store(server))
    with shared:
        reply = ask([{"role": "user", "content": "Capital of France?"}])
        with pytest.raises(BudgetExceeded):
            ask([{"role": "user", "content": "And of Japan?"}])
    assert shared.used == reply.usage.total_tokens
    assert len(llm.calls) == 1


# -- windows -----------------------------------------------------------------------------


# Times in the future: a window's keys expire (in Redis's own time) once the window is
# over, so a test clock in the past would see them deleted at once.
@pytest.mark.parametrize(
    ("window", "inside", "next_window"),
    [
        ("minute", "2100-11-24T10:15:59", "2100-11-24T10:16:00"),
        ("day", "2100-11-24T23:59:59", "2100-11-25T00:00:00"),
        ("month", "2100-11-30T23:59:59", "2100-12-01T00:00:00"),
        ("month", "2100-12-31T23:59:59", "2101-01-01T00:00:00"),
    ],
)
def test_a_window_starts_again_at_its_boundary(
    server: RedisServer, window: Any, inside: str, next_window: str
) -> None:
    """Totals start from zero in the next UTC minute, day or calendar month."""
    now = [at(inside)]
    windowed = store(server, window=window, clock=lambda: now[0])
    shared = lg.budget(max_tokens=100, store=windowed)
    with shared:
        lg.types.reserve(100).reconcile(100)
        with pytest.raises(BudgetExceeded):
            lg.types.reserve(1)
        now[0] = at(next_window)
        assert shared.used == 0
        lg.types.reserve(100).reconcile(70)
    assert shared.used == 70


def test_a_windows_keys_expire_after_it(server: RedisServer) -> None:
    """A window's keys carry an expiry past its end (plus leases); a total has none."""
    now = time.time()
    daily = store(server, "daily", window="day", lease_seconds=5)
    with lg.budget(store=daily):
        lg.types.reserve(10).reconcile(10)
    (key,) = daily.client.keys("{daily:*}:totals")
    left_ms = daily.client.pttl(key)
    midnight = (now // 86_400 + 1) * 86_400
    assert 0 < left_ms <= (midnight - now + 5 + 60) * 1000 + 1_000
    forever = store(server, "forever")
    with lg.budget(store=forever):
        lg.types.reserve(10).reconcile(10)
    assert forever.client.pttl("{forever}:totals") == -1


def test_a_call_is_charged_to_the_window_it_was_reserved_in(server: RedisServer) -> None:
    """A reservation made before a boundary and reconciled after it counts in its window."""
    now = [at("2100-11-24T10:15:59")]
    minute = lg.budget(store=store(server, window="minute", clock=lambda: now[0]))
    with minute:
        held = lg.types.reserve(100)
        now[0] = at("2100-11-24T10:16:01")
        held.reconcile(40)
        assert minute.used == 0
        now[0] = at("2100-11-24T10:15:30")
        assert minute.used == 40


# -- leases ------------------------------------------------------------------------------


def _reserve_and_hang(url: str, ready: Any) -> None:
    holder = RedisBudgetStore(url, key="leases", lease_seconds=1)
    with lg.budget(max_tokens=1_000, store=holder):
        lg.types.reserve(700)
        ready.set()
        time.sleep(60)  # killed long before


def test_a_killed_processs_reservation_expires(server: RedisServer) -> None:
    """A process SIGKILLed mid-call holds its reservation only until the lease ends."""
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Event()
    child = spawn.Process(target=_reserve_and_hang, args=(server.url, ready))
    child.start()
    try:
        assert ready.wait(30), "the child never reserved"
        shared = lg.budget(max_tokens=1_000, store=store(server, "leases"))
        assert shared.reserved == 700
        os.kill(child.pid or 0, signal.SIGKILL)
        child.join(10)
        with shared, pytest.raises(BudgetExceeded):
            lg.types.reserve(500)  # still held: the lease has not ended
        deadline = time.monotonic() + 5
        while shared.reserved and time.monotonic() < deadline:
            time.sleep(0.05)
        assert shared.reserved == 0
        with shared:
            lg.types.reserve(1_000).reconcile(1_000)
    finally:
        if child.is_alive():
            child.kill()
        child.join()


def test_usage_reported_after_the_lease_is_still_charged(
    server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A call slower than its lease is charged in full, and a warning says so."""
    slow = lg.budget(max_tokens=1_000, store=store(server, lease_seconds=0.05))
    with slow, caplog.at_level(logging.WARNING, logger="llmguard"):
        held = lg.types.reserve(500)
        time.sleep(0.1)
        assert slow.reserved == 0
        held.reconcile(450)
    assert slow.used == 450
    assert "lease ran out" in caplog.text


# -- a fleet -----------------------------------------------------------------------------

WORKERS = 8
CALLS = 200
FLEET_CAP = 60_000


def _fleet_worker(url: str, seed: int, results: Any) -> None:
    rng = random.Random(seed)
    fleet = lg.budget(max_tokens=FLEET_CAP, store=RedisBudgetStore(url, key="fleet"))
    used = refused = 0
    with fleet:
        for _ in range(CALLS):
            worst = rng.randint(50, 150)
            try:
                held = lg.types.reserve(worst)
            except BudgetExceeded:
                refused += 1
                continue
            if rng.random() < 0.1:
                held.release()  # the call failed before using anything
            else:
                reported = rng.randint(worst // 2, worst)
                held.reconcile(reported)
                used += reported
    results.put((used, refused))


def test_eight_processes_never_overshoot_one_budget(server: RedisServer) -> None:
    """8 processes x 200 calls: used + reserved never passes the cap, and the total
    reconciled equals the sum of the usage each process reported."""
    spawn = multiprocessing.get_context("spawn")
    results = spawn.Queue()
    children = [
        spawn.Process(target=_fleet_worker, args=(server.url, seed, results))
        for seed in range(WORKERS)
    ]
    watcher = store(server, "fleet")
    for child in children:
        child.start()
    peaks: list[int] = []
    try:
        while any(c.is_alive() for c in children):
            seen = watcher.snapshot()
            peaks.append(seen.used + seen.reserved)
        reports = [results.get(timeout=60) for _ in children]
    finally:
        for child in children:
            child.join(30)
    assert all(c.exitcode == 0 for c in children)
    final = watcher.snapshot()
    assert max(peaks, default=0) <= FLEET_CAP
    assert final.reserved == 0
    assert final.used == sum(used for used, _ in reports)
    assert final.used <= FLEET_CAP
    assert sum(refused for _, refused in reports) > 0  # the cap was really reached
    assert final.used > FLEET_CAP - 150  # and filled up to the last call that fit


# -- when Redis goes away ----------------------------------------------------------------


def _run(server: RedisServer, shared: lg.Budget) -> list[str]:
    """30 calls, the server stopped after the 10th and started again after the 20th."""
    outcomes = []
    with shared:
        for i in range(30):
            if i == 10:
                server.stop()
            if i == 20:
                server.start()
            try:
                lg.types.reserve(10).reconcile(10)
                outcomes.append("ok")
            except BudgetUnavailable as exc:
                outcomes.append(type(exc).__name__)
    return outcomes


def test_failing_open_lets_calls_through_and_says_so(
    server: RedisServer, sink: ListSink, caplog: pytest.LogCaptureFixture
) -> None:
    """on_unavailable="open": calls proceed through a restart, with a warning and an
    internal record saying the budget was not enforced; enforcement resumes after."""
    shared = lg.budget(max_tokens=10_000, store=store(server, on_unavailable="open"))
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        outcomes = _run(server, shared)
    assert outcomes == ["ok"] * 30
    assert "was not enforced" in caplog.text
    lg.flush(timeout=5)
    internal = [r for r in sink.records if r.kind == "internal"]
    assert any("was not enforced" in r.name for r in internal)
    assert shared.used == 100  # the restarted server holds the calls made since
    with shared:
        lg.types.reserve(9_900)
        with pytest.raises(BudgetExceeded):
            lg.types.reserve(1)


def test_failing_closed_refuses_calls_until_redis_is_back(server: RedisServer) -> None:
    """on_unavailable="closed" (the default): BudgetUnavailable while Redis is down."""
    shared = lg.budget(max_tokens=10_000, store=store(server, "closed"))
    outcomes = _run(server, shared)
    assert outcomes == ["ok"] * 10 + ["BudgetUnavailable"] * 10 + ["ok"] * 10
    assert shared.used == 100


def test_budget_unavailable_carries_the_store_and_the_cause(server: RedisServer) -> None:
    """The error names the store, its URL and key, and keeps the connection error."""
    shared = lg.budget(max_tokens=100, store=store(server, "named"))
    server.stop()
    with shared, pytest.raises(BudgetUnavailable) as refused:
        lg.types.reserve(10)
    error = refused.value
    assert (error.store, error.url, error.key) == ("RedisBudgetStore", server.url, "named")
    assert error.__cause__ is error.cause
    assert isinstance(error, lg.LLMGuardError)
    with pytest.raises(BudgetUnavailable):
        shared.snapshot()


def test_a_guarded_call_failing_closed_is_never_made(server: RedisServer) -> None:
    """A guarded call under an unreachable fail-closed budget is refused before the call."""
    llm = FakeLLM(["never"], model=MODEL)

    @lg.guard(model=MODEL, max_output_tokens=10)
    def ask(messages: list[dict[str, Any]], max_tokens: int | None = None) -> Any:
        return llm(model=MODEL, messages=messages, max_tokens=max_tokens)

    shared = lg.budget(max_tokens=1_000, store=store(server))
    server.stop()
    with lg.testing.capture() as records, shared, pytest.raises(BudgetUnavailable):
        ask([{"role": "user", "content": "Hello?"}])
    assert llm.calls == []
    (call,) = [r for r in records if r.kind == "llm"]
    assert call.status == "error"
    assert call.error_type is not None
    assert call.error_type.endswith("BudgetUnavailable")


def test_a_reconcile_that_cannot_reach_redis_never_raises(
    server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Usage that cannot be recorded is reported, not raised: the call already happened."""
    shared = lg.budget(max_tokens=1_000, store=store(server))
    with shared:
        held = lg.types.reserve(10)
    server.stop()
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        held.reconcile(10)
    assert "could not be recorded" in caplog.text


# -- shared rate limits ------------------------------------------------------------------


def test_a_rate_limit_is_shared_through_the_store(server: RedisServer) -> None:
    """Two limiters on one store (two processes, say) draw from one bucket."""
    a = rate_limit(requests_per_minute=3, store=store(server, "rl"), wait=False)
    b = rate_limit(requests_per_minute=3, store=store(server, "rl"), wait=False)
    a.acquire()
    a.acquire()
    b.acquire()
    with pytest.raises(RateLimitExceeded) as refused:
        b.acquire()
    assert refused.value.used == pytest.approx(3, abs=0.01)
    assert refused.value.retry_after == pytest.approx(20, abs=0.1)


def test_shared_tokens_come_back_when_unused(server: RedisServer) -> None:
    """A permit's unused tokens return to the shared bucket."""
    limit = rate_limit(tokens_per_minute=1_000, store=store(server, "rt"), wait=False)
    limit.acquire(tokens=900).reconcile(100)
    limit.acquire(tokens=900).cancel()
    limit.acquire(tokens=900)
    with pytest.raises(RateLimitExceeded):
        limit.acquire(tokens=100)


def test_a_shared_rate_limit_waits_for_the_refill(server: RedisServer) -> None:
    """Waiting on a shared limit sleeps the time Redis says, then takes."""
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    limit = rate_limit(tokens_per_minute=60_000, store=store(server, "rw"), sleep=sleep)
    limit.acquire(tokens=60_000)
    limit.acquire(tokens=100)  # 1,000 tokens a second come back: about 0.1 s
    assert 1 <= len(sleeps) <= 2
    assert sleeps[0] == pytest.approx(0.1, abs=0.02)


def test_a_shared_rate_limit_follows_the_unavailable_policy(server: RedisServer) -> None:
    """Redis down: open lets the call through unlimited, closed refuses it."""
    opened = rate_limit(requests_per_minute=1, store=store(server, on_unavailable="open"))
    closed = rate_limit(requests_per_minute=1, store=store(server))
    server.stop()
    permit = opened.acquire()
    permit.reconcile(0)
    opened.acquire()
    with pytest.raises(BudgetUnavailable):
        closed.acquire()


def test_a_url_must_be_a_string() -> None:
    """A url that is not a string is refused at construction."""
    with pytest.raises(ConfigurationError, match="url"):
        RedisBudgetStore(6379, key="k")  # type: ignore[arg-type]


def test_a_hold_of_another_store_is_refused() -> None:
    """settle() takes only holds this kind of store made: a programming error otherwise."""
    with pytest.raises(TypeError, match="not a hold"):
        RedisBudgetStore("redis://127.0.0.1:1/0", key="k").settle(object(), None)
