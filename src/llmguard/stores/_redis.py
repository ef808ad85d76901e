"""`RedisBudgetStore`: budgets and rate limits shared through Redis.

Every change is one Lua script, so that checking a cap and holding against it is one
atomic step for the whole fleet. Layout, for a store with ``key="bot"`` and
``window="day"`` (the braces keep a window's keys in one Redis Cluster slot)::

    {bot:2026-11-24}:totals   hash: tokens, cost, calls, unpriced (reconciled calls)
    {bot:2026-11-24}:holds    hash: reservation id -> "tokens cost"
    {bot:2026-11-24}:leases   sorted set: reservation id, scored by its expiry (ms)
    {bot:2026-11-24}:settled  sorted set: reservation ids settled lately, scored likewise
    {bot}:rate                hash: the rate limit's token buckets
    {bot}:rate:taken          sorted set: ids of the takes made lately, scored likewise

A reservation is a field of ``holds`` with a lease in ``leases``. Every script first
drops the holds whose lease has passed -- by the Redis server's clock, the one clock
the whole fleet shares -- so the hold of a process that died mid-call expires
instead of blocking the budget for good. A window's keys expire once the window (and
the longest lease) is over.

redis-py sends a command again when the connection drops or times out before its
answer, though the server may have run it already; so the scripts are idempotent. A
reservation already held is granted again as it stands, and a settlement, like a
rate limit's take, remembers its id for a minute, so that running it twice counts once.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from llmguard.exceptions import BudgetUnavailable, ConfigurationError
from llmguard.stores._protocol import BudgetSnapshot, Grant, RateTake

__all__ = ["RedisBudgetStore", "Window"]

logger = logging.getLogger("llmguard")

Window = Literal["minute", "day", "month"]
OnUnavailable = Literal["open", "closed"]

_WINDOWS = ("minute", "day", "month")
# Dollar amounts are sums of floats; a nano-dollar of rounding is not a crossed cap.
_USD_TOLERANCE = 1e-9
# How long a window's keys outlive it, besides the longest lease: late reconciliations.
_GRACE_MS = 60_000
# Past these, Redis refuses the expiry times (a lease of 1e300 s) and sockets the
# timeout (OverflowError); a lease under a millisecond would hold nothing.
_MAX_LEASE_S = 366 * 86_400
_MAX_TIMEOUT_S = 86_400
# A call said to have used more than this is charged this: past any cap, and a sum
# Redis keeps exactly (its integers stop at 2**63, Lua's at 2**53).
_MAX_CHARGE_TOKENS = 2**53
# Past a backoff of this long, assumed for a client= whose Retry's is unknown.
_BACKOFF_ALLOWANCE_S = 10.0

# Drop the expired holds, then read the totals and sum what the live holds keep.
_STATE = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for i = 1, #expired do
  redis.call('HDEL', KEYS[2], expired[i])
end
if #expired > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
end
local totals = redis.call('HMGET', KEYS[1], 'tokens', 'cost', 'calls', 'unpriced')
local used = tonumber(totals[1]) or 0
local spent = tonumber(totals[2]) or 0
local held_tokens, held_cost = 0, 0
local holds = redis.call('HVALS', KEYS[2])
for i = 1, #holds do
  local space = string.find(holds[i], ' ', 1, true)
  held_tokens = held_tokens + tonumber(string.sub(holds[i], 1, space - 1))
  held_cost = held_cost + tonumber(string.sub(holds[i], space + 1))
end
local function fmt(x) return string.format('%.17g', x) end
local function state(status, limit)
  return {status, limit, fmt(used), fmt(spent), fmt(held_tokens), fmt(held_cost),
          fmt(tonumber(totals[3]) or 0), fmt(tonumber(totals[4]) or 0)}
end
"""

# ARGV: id, tokens, cost ('' if unknown), max_tokens (''), max_cost_usd (''), lease in
# ms, expiry of the window's keys in ms since the epoch (''), tolerance in dollars. The
# expiry comes from the caller's clock; one behind the server's would have Redis delete
# the keys at once (an expiry in the past), so they live a lease and a minute at least.
_RESERVE = (
    _STATE
    + """
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  return state('ok', '')
end
local tokens = tonumber(ARGV[2])
if ARGV[4] ~= '' and used + held_tokens + tokens > tonumber(ARGV[4]) then
  return state('refused', 'max_tokens')
end
if ARGV[5] ~= '' then
  if ARGV[3] == '' then
    return state('refused', 'max_cost_usd')
  end
  if spent + held_cost + tonumber(ARGV[3]) - tonumber(ARGV[5]) > tonumber(ARGV[8]) then
    return state('refused', 'max_cost_usd')
  end
end
local cost = ARGV[3]
if cost == '' then cost = '0' end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ' ' .. cost)
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[6]), ARGV[1])
if ARGV[7] ~= '' then
  local expire = math.max(tonumber(ARGV[7]), now + tonumber(ARGV[6]) + 60000)
  redis.call('PEXPIREAT', KEYS[2], string.format('%d', expire))
  redis.call('PEXPIREAT', KEYS[3], string.format('%d', expire))
end
return state('ok', '')
"""
)

_SNAPSHOT = _STATE + "\nreturn state('ok', '')\n"

# ARGV: id, '1' to charge or '0' to only drop the hold, tokens (at most 2**53), cost
# ('' if unknown), expiry of the window's keys (''), how long to remember the id as
# settled (ms).  Usage is charged even when the lease has passed: what was spent is
# never hidden; the totals outlive the id's memory whatever the caller's clock says (see
# _RESERVE). Redis does not undo a script that fails halfway, so the charge, the
# step that could fail, comes first; totals past 2**53 tokens or the largest double
# stay there. Returns 1 if the hold was still there, 0 if not, -1 if this id was
# settled already.
_SETTLE = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
if redis.call('ZSCORE', KEYS[4], ARGV[1]) then
  return -1
end
if ARGV[2] == '1' then
  local totals = redis.call('HMGET', KEYS[1], 'tokens', 'cost')
  if (tonumber(totals[1]) or 0) + tonumber(ARGV[3]) < 9007199254740992 then
    redis.call('HINCRBY', KEYS[1], 'tokens', ARGV[3])
  else
    redis.call('HSET', KEYS[1], 'tokens', '9007199254740992')
  end
  redis.call('HINCRBY', KEYS[1], 'calls', 1)
  if ARGV[4] == '' then
    redis.call('HINCRBY', KEYS[1], 'unpriced', 1)
  elseif (tonumber(totals[2]) or 0) + tonumber(ARGV[4]) < 1.7976931348623157e308 then
    redis.call('HINCRBYFLOAT', KEYS[1], 'cost', ARGV[4])
  else
    redis.call('HSET', KEYS[1], 'cost', '1.7976931348623157e308')
  end
  if ARGV[5] ~= '' then
    local expire = math.max(tonumber(ARGV[5]), now + tonumber(ARGV[6]))
    redis.call('PEXPIREAT', KEYS[1], string.format('%d', expire))
  end
end
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[6]), ARGV[1])
redis.call('PEXPIRE', KEYS[4], ARGV[6])
local held = redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return held
"""

# Token buckets, one per limit, refilled continuously at the per-minute rate and full
# after a minute idle. ARGV: tokens, requests, tokens_per_minute (''),
# requests_per_minute (''), the take's id, how long to remember it (ms). Both are
# taken together or neither; the answer is the wait for each (0 when taken) and what
# the last minute has used of each. A take whose id was seen took already: it is
# answered as taken, taking nothing more.
_TAKE = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local saved = redis.call('HMGET', KEYS[1], 'ts', 'tokens', 'requests')
local elapsed = math.max(0, now - (tonumber(saved[1]) or now))
local tpm, rpm = tonumber(ARGV[3]), tonumber(ARGV[4])
local tokens, requests = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', math.floor(now * 1000))
if redis.call('ZSCORE', KEYS[2], ARGV[5]) then
  tokens, requests = 0, 0
end
local function level(value, cap)
  if cap == nil then return 0 end
  local last = tonumber(value)
  if last == nil then return cap end
  return math.min(cap, last + elapsed * cap / 60)
end
local free_tokens, free_requests = level(saved[2], tpm), level(saved[3], rpm)
local wait_tokens, wait_requests = 0, 0
if tpm ~= nil and tokens > 0 and tokens > free_tokens then
  wait_tokens = (tokens - free_tokens) * 60 / tpm
end
if rpm ~= nil and requests > 0 and requests > free_requests then
  wait_requests = (requests - free_requests) * 60 / rpm
end
local function fmt(x) return string.format('%.17g', x) end
if wait_tokens == 0 and wait_requests == 0 then
  local fields = {'ts', fmt(now)}
  if tpm ~= nil then
    free_tokens = math.min(tpm, free_tokens - tokens)
    table.insert(fields, 'tokens')
    table.insert(fields, fmt(free_tokens))
  end
  if rpm ~= nil then
    free_requests = math.min(rpm, free_requests - requests)
    table.insert(fields, 'requests')
    table.insert(fields, fmt(free_requests))
  end
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('PEXPIRE', KEYS[1], 61000)
  redis.call('ZADD', KEYS[2], math.floor(now * 1000) + tonumber(ARGV[6]), ARGV[5])
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
local used_tokens, used_requests = 0, 0
if tpm ~= nil then used_tokens = tpm - free_tokens end
if rpm ~= nil then used_requests = rpm - free_requests end
return {fmt(wait_tokens), fmt(wait_requests), fmt(used_tokens), fmt(used_requests)}
"""


class _Garbled(ValueError):
    """Redis answered something the scripts never return."""


@dataclass(frozen=True, slots=True)
class _Hold:
    """One reservation in Redis: the window it was made in, its id, when keys expire."""

    base: str
    id: str
    expire_at: int | None


class RedisBudgetStore:
    """Keeps budgets and rate limits in Redis, shared by every process using ``key``.

    Give it to `llmguard.budget` (``store=``) to hold a fleet of workers to one cap,
    or to `llmguard.rate_limit` to share a rate limit. Each process creates its own
    store with the same URL and key; budgets with the same key share their totals.

    Args:
        url: A redis-py URL, ``redis://[:password@]host:6379/0`` (or ``rediss://``,
            ``unix://``). Give either ``url`` or ``client``.
        key: The name the accounts are shared under; it prefixes every Redis key.
        window: ``None`` (one total, forever), ``"minute"``, ``"day"`` or ``"month"``:
            the totals start again at each UTC minute, day or calendar month.
        on_unavailable: What a call does when Redis cannot be reached: ``"closed"``
            (the default) refuses it with `BudgetUnavailable`; ``"open"`` lets it
            proceed, unchecked and uncounted, and says so in a (rate-limited)
            warning and an ``internal`` record.
        lease_seconds: How long a reservation is held without being reconciled or
            released; then it expires, as the reservations of a process that died
            mid-call do. Make it longer than your slowest call (at least 1 ms, at
            most 366 days).
        timeout: Seconds to wait for Redis (to connect, and for each answer; at
            most a day).
        client: A ``redis.Redis`` client to use instead of ``url`` (not an asyncio one:
            llmguard reaches Redis synchronously, from async calls too).
        clock: Seconds since the epoch, to place calls in windows (for tests).

    Raises:
        ConfigurationError: redis-py is not installed, or an option is invalid.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        key: str,
        window: Window | None = None,
        on_unavailable: OnUnavailable = "closed",
        lease_seconds: float = 600.0,
        timeout: float = 1.0,
        client: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(key, str) or not key:
            raise ConfigurationError(f"key must be a non-empty string, not {key!r}")
        if window is not None and window not in _WINDOWS:
            raise ConfigurationError(
                f"window must be None, 'minute', 'day' or 'month', not {window!r}"
            )
        if on_unavailable not in ("open", "closed"):
            raise ConfigurationError(
                f"on_unavailable must be 'open' or 'closed', not {on_unavailable!r}"
            )
        for option, value, least, most in (
            ("lease_seconds", lease_seconds, 0.001, _MAX_LEASE_S),
            ("timeout", timeout, 0.0, _MAX_TIMEOUT_S),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (0 < value <= most and value >= least)
            ):
                raise ConfigurationError(
                    f"{option} must be a positive number of seconds, at least {least:g} "
                    f"and at most {most:,}, not {value!r}"
                )
        if (url is None) == (client is None):
            raise ConfigurationError("RedisBudgetStore needs either a url or a client=")
        if not callable(clock):
            raise ConfigurationError(f"clock must be a callable, not {clock!r}")
        if client is not None and not callable(getattr(client, "register_script", None)):
            raise ConfigurationError(f"client must be a redis.Redis client, not {client!r}")
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError as exc:
            raise ConfigurationError(
                "RedisBudgetStore needs redis-py: pip install 'llmguard[redis]'"
            ) from exc
        asyncio_clients = sys.modules.get("redis.asyncio")  # loaded if one was made
        if asyncio_clients is not None and isinstance(
            client, (asyncio_clients.Redis, asyncio_clients.RedisCluster)
        ):
            # Its scripts answer coroutines, which a guarded call never awaits.
            raise ConfigurationError(
                f"client must be a redis.Redis client, not the asyncio one {client!r}; "
                "llmguard calls Redis synchronously, from async calls too"
            )
        if client is None:
            if not isinstance(url, str):
                raise ConfigurationError(f"url must be a string, not {url!r}")
            try:
                # One immediate retry: the first command after a server restart meets a
                # dead pooled connection, and the retry reconnects.
                client = redis.Redis.from_url(
                    url,
                    socket_timeout=timeout,
                    socket_connect_timeout=timeout,
                    retry=Retry(NoBackoff(), 1),
                )
            except ValueError as exc:
                raise ConfigurationError(f"invalid Redis url {_safe_url(url)!r}: {exc}") from exc
        self.key = key
        self.url = _safe_url(url) if url is not None else None
        self.window = window
        self.on_unavailable: OnUnavailable = on_unavailable
        self.lease_seconds = float(lease_seconds)
        self.client = client
        self.clock = clock
        self._errors: tuple[type[BaseException], ...] = (
            redis.exceptions.RedisError,
            OSError,
            _Garbled,
        )
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)
        self._snapshot = client.register_script(_SNAPSHOT)
        self._take = client.register_script(_TAKE)
        self._remember_ms = _retry_window_ms(client)

    def __repr__(self) -> str:
        where = self.url or repr(self.client)
        return f"RedisBudgetStore({where!r}, key={self.key!r}, window={self.window!r})"

    # -- budgets --------------------------------------------------------------------------

    def reserve(
        self,
        tokens: int,
        cost_usd: float | None,
        *,
        max_tokens: int | None,
        max_cost_usd: float | None,
    ) -> Grant:
        """Hold the amounts in Redis unless a cap would be crossed (one atomic script).

        Raises:
            BudgetUnavailable: Redis cannot be reached and the store fails closed.
        """
        import uuid  # uuid and urllib.parse load with the first use of Redis, not at import

        base, expire_at = self._window(self.clock())
        hold = _Hold(base, uuid.uuid4().hex, expire_at)
        args = (
            hold.id,
            tokens,
            _number(cost_usd),
            _number(max_tokens),
            _number(max_cost_usd),
            round(self.lease_seconds * 1000),
            _number(expire_at),
            repr(_USD_TOLERANCE),
        )
        try:
            status, limit, state = _decision(self._reserve(keys=_keys(base), args=args))
        except self._errors as exc:
            self._unavailable(exc)
            return Grant(granted=True, hold=None, state=BudgetSnapshot())
        if status == "ok":
            return Grant(granted=True, hold=hold, state=state)
        return Grant(granted=False, hold=None, state=state, limit=limit)

    def settle(self, hold: object, charge: tuple[int, float | None] | None) -> None:
        """Drop a hold, charging ``(tokens, cost_usd)`` or nothing; never raises."""
        if not isinstance(hold, _Hold):
            raise TypeError(f"not a hold of this store: {hold!r}")
        if charge is None:
            args: tuple[Any, ...] = (hold.id, "0", 0, "", "", self._remember_ms)
        else:
            tokens, cost_usd = charge
            args = (
                hold.id,
                "1",
                min(tokens, _MAX_CHARGE_TOKENS),
                _number(cost_usd),
                _number(hold.expire_at),
                self._remember_ms,
            )
        try:
            held = self._settle(keys=[*_keys(hold.base), f"{hold.base}:settled"], args=args)
        except self._errors as exc:
            _report(
                f"shared budget {self.key!r}: a call's usage could not be recorded "
                "(its reservation will expire)",
                exc,
            )
            return
        if held == 0 and charge is not None:
            _report(
                f"shared budget {self.key!r}: a reservation's lease ran out before its call "
                "was reconciled; raise lease_seconds above the slowest call",
                None,
            )

    def snapshot(self) -> BudgetSnapshot:
        """The counts of the current window.

        Raises:
            BudgetUnavailable: Redis cannot be reached (whatever ``on_unavailable``
                says: there is no number to give).
        """
        base, _ = self._window(self.clock())
        try:
            return _decision(self._snapshot(keys=_keys(base), args=()))[2]
        except self._errors as exc:
            raise self._error(exc) from exc

    # -- rate limits ----------------------------------------------------------------------

    def take(
        self,
        tokens: float,
        requests: float,
        *,
        tokens_per_minute: int | None,
        requests_per_minute: int | None,
    ) -> RateTake:
        """Take from the shared token buckets, or say how long until there is room.

        Raises:
            BudgetUnavailable: Redis cannot be reached and the store fails closed.
        """
        import uuid

        args = (
            repr(float(tokens)),
            repr(float(requests)),
            _number(tokens_per_minute),
            _number(requests_per_minute),
            uuid.uuid4().hex,
            self._remember_ms,
        )
        rate = f"{{{self.key}}}:rate"
        try:
            waits = _numbers(self._take(keys=[rate, f"{rate}:taken"], args=args), 4)
        except self._errors as exc:
            self._unavailable(exc)
            return RateTake(0.0, 0.0, 0.0, 0.0, enforced=False)
        return RateTake(waits[0], waits[1], waits[2], waits[3])

    # -- helpers --------------------------------------------------------------------------

    def _window(self, now: float) -> tuple[str, int | None]:
        """The Redis key prefix of the window ``now`` falls in, and when its keys expire."""
        window = self.window
        if window is None:
            return f"{{{self.key}}}", None
        moment = datetime.fromtimestamp(now, timezone.utc)
        if window == "minute":
            start = moment.replace(second=0, microsecond=0)
            label, end = start.strftime("%Y-%m-%dT%H:%M"), start + timedelta(minutes=1)
        elif window == "day":
            start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
            label, end = start.strftime("%Y-%m-%d"), start + timedelta(days=1)
        else:
            start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            label = start.strftime("%Y-%m")
            end = (
                start.replace(year=start.year + 1, month=1)
                if start.month == 12
                else (start.replace(month=start.month + 1))
            )
        expire_at = int(end.timestamp() * 1000) + round(self.lease_seconds * 1000) + _GRACE_MS
        return f"{{{self.key}:{label}}}", expire_at

    def _error(self, exc: BaseException) -> BudgetUnavailable:
        where = self.url or "Redis"
        problem = (
            "gave an answer llmguard cannot read" if isinstance(exc, _Garbled) else "is unreachable"
        )
        return BudgetUnavailable(
            f"the shared budget {self.key!r} cannot be checked: {where} {problem} "
            f"({type(exc).__name__}: {exc})",
            store=type(self).__name__,
            url=self.url,
            key=self.key,
            cause=exc,
        )

    def _unavailable(self, exc: BaseException) -> None:
        if self.on_unavailable == "closed":
            raise self._error(exc) from exc
        _report(
            f"shared budget {self.key!r} was not enforced: its Redis store is unreachable "
            "and fails open",
            exc,
        )


def _retry_window_ms(client: Any) -> int:
    """How long to remember a settled or taken id: a minute, or longer when the
    client's retries can resend a script later than that after it ran.

    Each retry waits at most the socket timeout for an answer, the connect timeout to
    reconnect, and its backoff. A client without a socket timeout waits as long as the
    connection lasts: no memory is long enough for it, and a minute is kept.
    """
    try:
        options = client.connection_pool.connection_kwargs
        answer = options.get("socket_timeout")
        connect = options.get("socket_connect_timeout")
        retry = client.get_retry()
        retries = 0 if retry is None else retry.get_retries()
        policy = getattr(retry, "_backoff", None)
        # The longest pause: an exponential backoff's cap, or a constant one's pause.
        backoff = getattr(policy, "_cap", None)
        if backoff is None:
            backoff = policy.compute(retries) if policy is not None else _BACKOFF_ALLOWANCE_S
    except Exception:  # not redis-py's own client: what it does is unknown
        return _GRACE_MS
    connect = answer if connect is None else connect
    parts = (answer, connect, retries, backoff)
    if not all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x >= 0
        for x in parts
    ):
        return _GRACE_MS
    window = float((retries + 1) * (answer + connect + backoff))
    return _GRACE_MS + min(round(window * 1000), _MAX_LEASE_S * 1000)


def _keys(base: str) -> list[str]:
    return [f"{base}:totals", f"{base}:holds", f"{base}:leases"]


def _number(value: float | None) -> str:
    return "" if value is None else repr(value)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _numbers(answer: Any, count: int) -> list[float]:
    """The ``count`` finite numbers a script answered, or `_Garbled`."""
    try:
        if not isinstance(answer, list) or len(answer) != count:
            raise ValueError("not a list of the expected length")
        numbers = [float(_text(x)) for x in answer]
    except (TypeError, ValueError, UnicodeDecodeError) as exc:
        raise _Garbled(f"{answer!r:.200}") from exc
    if not all(math.isfinite(x) for x in numbers):
        raise _Garbled(f"{answer!r:.200}")
    return numbers


def _decision(answer: Any) -> tuple[str, str, BudgetSnapshot]:
    """A budget script's answer: its status, the cap that refused, and the counts."""
    if not isinstance(answer, list) or len(answer) != 8:
        raise _Garbled(f"{answer!r:.200}")
    try:
        status, limit = _text(answer[0]), _text(answer[1])
    except UnicodeDecodeError as exc:
        raise _Garbled(f"{answer!r:.200}") from exc
    if status not in ("ok", "refused") or limit not in ("", "max_tokens", "max_cost_usd"):
        raise _Garbled(f"{answer!r:.200}")
    return status, limit, _state(_numbers(answer[2:], 6))


def _state(numbers: list[float]) -> BudgetSnapshot:
    used, spent, held, held_cost, calls, unpriced = numbers
    return BudgetSnapshot(
        used=int(used),
        cost_usd=spent,
        reserved=int(held),
        reserved_usd=max(0.0, held_cost),
        calls=int(calls),
        unpriced_calls=int(unpriced),
    )


def _safe_url(url: str) -> str:
    """The URL without its password, fit for messages and records."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + host))


def _report(problem: str, exc: BaseException | None) -> None:
    """A rate-limited warning and an ``internal`` record; never raises."""
    try:
        from llmguard._delivery.pipeline import report

        report(problem, exc)
    except Exception:  # reporting must not break the call it reports on
        logger.warning("llmguard: %s", problem)
