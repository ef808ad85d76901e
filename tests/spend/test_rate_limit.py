"""lg.rate_limit: token buckets per minute, waiting or refusing, alone and in a guard.

Time is a fake clock that only the injected sleeps move, so no test waits for real.
The shared (Redis) flavour is tested in tests/stores/test_stores_redis.py.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import llmguard as lg
from llmguard._spend import rate_limits as _rate_limit
from llmguard._spend.rate_limits import RateLimit, rate_limit
from llmguard.exceptions import BudgetExceeded, ConfigurationError, RateLimitExceeded
from llmguard.testing import FakeLLM, capture

MODEL = "gpt-4o-mini"


class FakeTime:
    """A clock that moves only when something sleeps on it; remembers every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def time_() -> FakeTime:
    """A fresh fake clock."""
    return FakeTime()


def limiter(time_: FakeTime, **options: Any) -> RateLimit:
    return rate_limit(clock=time_.clock, sleep=time_.sleep, **options)


# -- configuration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({}, "tokens_per_minute, requests_per_minute"),
        ({"tokens_per_minute": 0}, "tokens_per_minute"),
        ({"tokens_per_minute": 1.5}, "tokens_per_minute"),
        ({"requests_per_minute": True}, "requests_per_minute"),
        ({"requests_per_minute": 1, "wait": "yes"}, "wait"),
        ({"requests_per_minute": 1, "max_wait": -1}, "max_wait"),
        ({"requests_per_minute": 1, "max_wait": float("inf")}, "max_wait"),
        ({"requests_per_minute": 1, "name": 3}, "name"),
        ({"requests_per_minute": 1, "store": object()}, "store"),
        ({"requests_per_minute": 1, "sleep": 3}, "sleep"),
    ],
)
def test_invalid_options_are_configuration_errors(options: dict[str, Any], named: str) -> None:
    """A rate limit with no limit or a bad option is refused at construction, by name."""
    with pytest.raises(ConfigurationError, match=named):
        rate_limit(**options)


def test_a_guard_refuses_a_rate_limit_that_is_not_one() -> None:
    """lg.guard(rate_limit=...) takes only a RateLimit, checked at decoration time."""
    with pytest.raises(ConfigurationError, match="rate_limit"):
        lg.guard(rate_limit={"requests_per_minute": 5})  # type: ignore[call-overload]


# -- taking and waiting ------------------------------------------------------------------


def test_a_full_minute_goes_at_once_then_calls_wait_for_the_refill(time_: FakeTime) -> None:
    """The bucket starts full; past it, each call waits exactly for its share."""
    limit = limiter(time_, requests_per_minute=3)
    for _ in range(3):
        limit.acquire()
    assert time_.sleeps == []
    limit.acquire()
    assert time_.sleeps == [pytest.approx(20.0)]  # one request refills in 60/3 s


def test_tokens_wait_for_the_tokens_they_need(time_: FakeTime) -> None:
    """A call waits until enough tokens have come back, and takes them."""
    limit = limiter(time_, tokens_per_minute=6000)
    limit.acquire(tokens=5000)
    limit.acquire(tokens=3000)  # 1000 free, 2000 more come back in 20 s
    assert time_.sleeps == [pytest.approx(20.0)]


def test_both_limits_are_taken_together_or_not_at_all(time_: FakeTime) -> None:
    """When one limit has no room, the other keeps what it had: nothing was taken."""
    limit = limiter(time_, tokens_per_minute=1000, requests_per_minute=1, wait=False)
    limit.acquire(tokens=100)
    with pytest.raises(RateLimitExceeded) as refused:
        limit.acquire(tokens=100)
    assert refused.value.limit == "requests_per_minute"
    time_.now += 60  # the request is back; had the refused call taken 100 tokens,
    limit.acquire(tokens=1000)  # this would not fit


def test_without_waiting_the_refusal_carries_its_numbers(time_: FakeTime) -> None:
    """wait=False refuses at once with the limit, what was used, what was asked, and when."""
    limit = limiter(time_, tokens_per_minute=1000, wait=False, name="openai")
    limit.acquire(tokens=900)
    with pytest.raises(RateLimitExceeded) as refused:
        limit.acquire(tokens=400)
    error = refused.value
    assert isinstance(error, lg.LimitExceeded)
    assert (error.limit, error.maximum, error.used, error.requested, error.name) == (
        "tokens_per_minute",
        1000,
        900,
        400,
        "openai",
    )
    assert error.retry_after == pytest.approx(18.0)  # 300 tokens at 1000 per minute
    assert "wait=False" in str(error)
    assert time_.sleeps == []


def test_a_wait_past_max_wait_is_refused_without_sleeping(time_: FakeTime) -> None:
    """A call that would wait longer than max_wait is refused before it sleeps."""
    limit = limiter(time_, requests_per_minute=1, max_wait=10)
    limit.acquire()
    with pytest.raises(RateLimitExceeded, match="max_wait") as refused:
        limit.acquire()
    assert refused.value.retry_after == pytest.approx(60.0)
    assert time_.sleeps == []


def test_a_wait_within_max_wait_is_made(time_: FakeTime) -> None:
    """A wait shorter than max_wait is waited out."""
    limit = limiter(time_, requests_per_minute=6, max_wait=10)
    for _ in range(7):
        limit.acquire()
    assert time_.sleeps == [pytest.approx(10.0)]


def test_a_call_larger_than_the_whole_limit_is_refused_at_once(time_: FakeTime) -> None:
    """More tokens than a minute allows can never fit: refused with no retry_after."""
    limit = limiter(time_, tokens_per_minute=1000)
    with pytest.raises(RateLimitExceeded, match="more than the whole") as refused:
        limit.acquire(tokens=1001)
    assert refused.value.retry_after is None
    assert time_.sleeps == []


def test_tokens_must_be_a_non_negative_int(time_: FakeTime) -> None:
    """acquire(tokens=...) refuses a negative or fractional amount."""
    limit = limiter(time_, tokens_per_minute=1000)
    with pytest.raises(ValueError, match="tokens"):
        limit.acquire(tokens=-1)
    with pytest.raises(ValueError, match="tokens"):
        limit.acquire(tokens=1.5)  # type: ignore[arg-type]


def test_a_permit_gives_back_what_the_call_did_not_use(time_: FakeTime) -> None:
    """reconcile returns the unused tokens, release all of them; only the first counts."""
    limit = limiter(time_, tokens_per_minute=1000, wait=False)
    limit.acquire(tokens=800).reconcile(300)  # 500 come back: 700 free
    released = limit.acquire(tokens=700)
    released.release()
    released.release()  # a second settle changes nothing
    released.reconcile(0)
    limit.acquire(tokens=700)
    with pytest.raises(RateLimitExceeded):
        limit.acquire(tokens=1)
    assert "settled" in repr(released)


def test_nothing_sleeps_while_a_bucket_is_locked(time_: FakeTime) -> None:
    """The bucket's lock is free whenever the limiter sleeps."""
    seen: list[bool] = []

    def sleep(seconds: float) -> None:
        seen.append(limit._store._lock.locked())  # type: ignore[attr-defined]
        time_.sleep(seconds)

    limit = rate_limit(requests_per_minute=1, clock=time_.clock, sleep=sleep)
    limit.acquire()
    limit.acquire()
    assert seen == [False]


def test_threads_never_take_more_than_the_limit() -> None:
    """Many threads racing for one minute's requests: exactly the limit gets through."""
    frozen = FakeTime()
    limit = rate_limit(requests_per_minute=50, wait=False, clock=frozen.clock)
    taken: list[int] = []
    refused: list[int] = []

    def worker() -> None:
        for _ in range(20):
            try:
                limit.acquire()
                taken.append(1)
            except RateLimitExceeded:
                refused.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(taken), len(refused)) == (50, 110)


async def test_async_acquire_waits_with_asyncio_sleep(
    time_: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an injected sleep, async code waits with asyncio.sleep, not time.sleep."""
    waits: list[float] = []

    async def fake_asyncio_sleep(seconds: float) -> None:
        waits.append(seconds)
        time_.now += seconds

    monkeypatch.setattr(_rate_limit.asyncio, "sleep", fake_asyncio_sleep)
    monkeypatch.setattr(_rate_limit.time, "sleep", lambda s: pytest.fail("time.sleep"))
    limit = rate_limit(requests_per_minute=2, clock=time_.clock)
    await limit.acquire_async()
    await limit.acquire_async()
    await limit.acquire_async()
    assert waits == [pytest.approx(30.0)]


async def test_async_acquire_awaits_an_injected_async_sleep(time_: FakeTime) -> None:
    """An injected sleep that returns a coroutine is awaited."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        time_.now += seconds

    limit = rate_limit(requests_per_minute=1, clock=time_.clock, sleep=sleep)
    await limit.acquire_async()
    await limit.acquire_async()
    assert waits == [pytest.approx(60.0)]


async def test_async_acquire_with_a_plain_injected_sleep(time_: FakeTime) -> None:
    """An injected plain sleep is called as it is."""
    limit = limiter(time_, requests_per_minute=1)
    await limit.acquire_async()
    await limit.acquire_async()
    assert time_.sleeps == [pytest.approx(60.0)]


def test_the_admission_flow_yields_waits_for_any_driver(time_: FakeTime) -> None:
    """admission() is the sans-IO core: it yields each wait and returns the permit."""
    limit = rate_limit(requests_per_minute=1, clock=time_.clock)
    limit.acquire()
    flow = limit.admission()
    assert next(flow) == pytest.approx(60.0)
    time_.now += 60
    with pytest.raises(StopIteration) as done:
        flow.send(None)
    assert isinstance(done.value.value, _rate_limit.Permit)


def test_a_rate_limit_describes_itself() -> None:
    """repr shows the name and the limits."""
    text = repr(rate_limit(tokens_per_minute=10, name="x"))
    assert "name='x'" in text
    assert "tokens_per_minute=10" in text


# -- in a guarded call -----------------------------------------------------------------


def _guarded(time_: FakeTime, limit: RateLimit | None, answers: int = 5) -> tuple[Any, FakeLLM]:
    llm = FakeLLM(["fine"] * answers, model=MODEL)

    @lg.guard(model=MODEL, max_output_tokens=50, rate_limit=limit, sleep=time_.sleep)
    def ask(messages: list[dict[str, Any]], max_tokens: int | None = None) -> Any:
        return llm(model=MODEL, messages=messages, max_tokens=max_tokens)

    return ask, llm


QUESTION = [{"role": "user", "content": "Is it fine?"}]


def test_a_guard_waits_for_room_with_its_sleep(time_: FakeTime) -> None:
    """A guarded call over the limit pauses with the guard's sleep, then is made."""
    limit = rate_limit(requests_per_minute=2, clock=time_.clock)
    ask, llm = _guarded(time_, limit)
    with capture() as records:
        for _ in range(3):
            ask(QUESTION)
    assert len(llm.calls) == 3
    assert time_.sleeps == [pytest.approx(30.0)]
    waited = [r for r in records if r.kind == "attempt" and "rate_limit_wait_s" in r.metadata]
    assert len(waited) == 1
    assert waited[0].metadata["rate_limit_wait_s"] == pytest.approx(30.0)


def test_a_guard_refuses_before_the_call_when_it_may_not_wait(time_: FakeTime) -> None:
    """wait=False: the refused call is never made and its record says limit."""
    limit = rate_limit(requests_per_minute=1, wait=False, clock=time_.clock)
    ask, llm = _guarded(time_, limit)
    ask(QUESTION)
    with capture() as records, pytest.raises(RateLimitExceeded) as refused:
        ask(QUESTION)
    assert len(llm.calls) == 1
    (call,) = [r for r in records if r.kind == "llm"]
    assert call.status == "limit"
    assert call.limits is not None
    assert call.limits["tripped"] == "rate_limit"
    assert refused.value.trace_id == call.trace_id


def test_a_guard_gives_back_the_tokens_a_call_did_not_use(time_: FakeTime) -> None:
    """Each attempt takes its input plus output cap; what it did not use goes back."""
    limit = rate_limit(tokens_per_minute=200, wait=False, clock=time_.clock)
    ask, _ = _guarded(time_, limit, answers=10)
    # Each call holds about 60 tokens (input + 50 output) and uses far fewer, so many
    # more calls fit in a minute than 200 / 60 -- the rest is given back each time.
    for _ in range(8):
        ask(QUESTION)
    assert time_.sleeps == []


def test_a_failed_call_gives_all_its_tokens_back(time_: FakeTime) -> None:
    """A call that raises used nothing: its tokens return to the bucket."""
    limit = rate_limit(tokens_per_minute=70, wait=False, clock=time_.clock)

    @lg.guard(model=MODEL, max_output_tokens=50, rate_limit=limit, transient_retries=0)
    def broken(messages: list[dict[str, Any]], max_tokens: int | None = None) -> Any:
        raise RuntimeError("provider down")

    for _ in range(3):
        with pytest.raises(RuntimeError):
            broken(QUESTION)


def test_an_open_rate_limit_applies_to_guarded_calls_inside(time_: FakeTime) -> None:
    """with limit: every guarded call inside goes through it, and none outside."""
    limit = rate_limit(requests_per_minute=1, wait=False, clock=time_.clock)
    ask, llm = _guarded(time_, None)
    with limit:
        ask(QUESTION)
        with pytest.raises(RateLimitExceeded):
            ask(QUESTION)
    ask(QUESTION)
    assert len(llm.calls) == 2
    assert _rate_limit.active() == ()


def test_a_guard_and_an_open_limit_that_are_the_same_count_once(time_: FakeTime) -> None:
    """The same limit given to the guard and opened around it takes one request."""
    limit = rate_limit(requests_per_minute=2, wait=False, clock=time_.clock)
    ask, _ = _guarded(time_, limit)
    with limit, limit:
        assert _rate_limit.active() == (limit,)
        ask(QUESTION)
        ask(QUESTION)


def test_a_second_limit_refusing_gives_the_first_its_room_back(time_: FakeTime) -> None:
    """Limits are taken in turn; a refusal by one returns what the others gave."""
    roomy = rate_limit(tokens_per_minute=1_000, requests_per_minute=2, clock=time_.clock)
    tight = rate_limit(requests_per_minute=1, wait=False, clock=time_.clock)
    ask, _ = _guarded(time_, tight)
    with roomy:
        ask(QUESTION)
        with pytest.raises(RateLimitExceeded):
            ask(QUESTION)
    roomy.acquire(tokens=900)  # the refused call's request and tokens came back
    assert time_.sleeps == []


def test_a_budget_refusal_gives_the_rate_limit_its_room_back(time_: FakeTime) -> None:
    """The rate limit is taken before the budget; a budget refusal returns its tokens."""
    limit = rate_limit(tokens_per_minute=1_000, wait=False, clock=time_.clock)
    ask, llm = _guarded(time_, limit)
    with lg.budget(max_tokens=10), pytest.raises(BudgetExceeded):
        ask(QUESTION)
    assert llm.calls == []
    limit.acquire(tokens=1_000)
    with pytest.raises(RateLimitExceeded):
        limit.acquire(tokens=1)


async def test_an_async_guard_pauses_without_blocking_the_loop(time_: FakeTime) -> None:
    """An async guarded call waits for room through the async driver."""
    llm = FakeLLM(["fine"] * 3, model=MODEL)
    limit = rate_limit(requests_per_minute=1, clock=time_.clock)
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        time_.now += seconds
        await asyncio.sleep(0)

    @lg.guard(model=MODEL, rate_limit=limit, sleep=sleep)
    async def ask(messages: list[dict[str, Any]]) -> Any:
        return await llm.acall(model=MODEL, messages=messages)

    await ask(QUESTION)
    await ask(QUESTION)
    assert pauses == [pytest.approx(60.0)]
    assert len(llm.calls) == 2
