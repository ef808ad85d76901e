"""Transient errors -- rate limits, timeouts, overload -- and how long to wait after one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from llmguard.exceptions import ProviderError

__all__ = ["Backoff", "is_transient"]

# Request timeout, conflict (OpenAI's "try again"), rate limit; and every 5xx, which
# includes Anthropic's 529 "overloaded".
_RETRY_STATUS = frozenset({408, 409, 429})
# Timeouts and dropped connections of the HTTP clients the SDKs use, by class name, so
# that none of them needs importing.
_TRANSIENT_NAMES = frozenset(
    {
        "APITimeoutError",
        "APIConnectionError",
        "ConnectError",
        "ConnectTimeout",
        "ReadTimeout",
        "ReadError",
        "WriteTimeout",
        "PoolTimeout",
        "RemoteProtocolError",
        "ServiceUnavailableError",
        "Timeout",
        "TimeoutException",
    }
)
_MAX_RETRY_AFTER = 60.0
# An error a stream reports after its 200 response (an SSE error event) carries no status
# of its own: its type says what it is. Anthropic's types stand for 429, 500, 504 and 529;
# OpenAI's name a server error, a rate limit or a file search that timed out (as its type
# or its code). Hugging Face's text-generation-inference calls its overload "overloaded",
# and gateways pass that word on as a code.
_TRANSIENT_TYPES = frozenset(
    {
        "rate_limit_error",
        "api_error",
        "timeout_error",
        "overloaded_error",
        "overloaded",
        "server_error",
        "rate_limit_exceeded",
        "vector_store_timeout",
    }
)


def status_code(exc: BaseException) -> int | None:
    """The HTTP status an SDK error carries, on itself or on its response."""
    for holder in (exc, getattr(exc, "response", None)):
        code = getattr(holder, "status_code", None)
        if isinstance(code, int) and not isinstance(code, bool):
            return code
    return None


def is_transient(exc: BaseException, retry_on: tuple[type[BaseException], ...] = ()) -> bool:
    """Whether ``exc`` is worth retrying unchanged: it says nothing about the prompt."""
    if retry_on and isinstance(exc, retry_on):
        return True
    if isinstance(exc, ProviderError):  # a failure the response itself reported
        said = exc.code
        if (status := _as_status(said)) is not None:
            return _retried(status)
        return exc.type in _TRANSIENT_TYPES or said in _TRANSIENT_TYPES
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):  # distinct classes before 3.11
        return True
    code = status_code(exc)
    if code is not None and not 200 <= code < 300:
        return _retried(code)
    if any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__):
        return True
    reported = _error_type(getattr(exc, "body", None))
    if isinstance(reported, int):  # an HTTP status as the error's code (OpenRouter's)
        return _retried(reported)
    return reported in _TRANSIENT_TYPES


def _retried(status: int) -> bool:
    """Whether a request answered with this HTTP status is worth sending again."""
    return status in _RETRY_STATUS or status >= 500


def _as_status(code: object) -> int | None:
    """A code that is an HTTP status (``502`` or ``"502"``), as that number."""
    if type(code) is int and 100 <= code <= 599:
        return code
    if isinstance(code, str) and len(code) == 3 and code.isascii() and code.isdigit():
        return int(code)
    return None


def _error_type(body: object) -> str | int | None:
    """The type of the error an SDK error's body describes: Anthropic's
    ``{"type": "error", "error": {"type": ...}}``, or OpenAI's error object (its ``type``,
    else its ``code``); a code that is an HTTP status (OpenRouter sends ``502`` in the
    chunk that ends a failed stream) as that number."""
    if not isinstance(body, dict):
        return None
    inner = body.get("error")
    error = inner if isinstance(inner, dict) else body
    kind = error.get("type")
    if kind == "error" or kind is None or kind not in _TRANSIENT_TYPES:
        kind = error.get("code", kind)
    if (status := _as_status(kind)) is not None:
        return status
    return kind if isinstance(kind, str) else None


def retry_after(exc: BaseException) -> float | None:
    """Seconds a ``Retry-After`` header on the error's response asks to wait, if any."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    value = None
    with contextlib.suppress(Exception):
        value = headers.get("retry-after") if headers is not None else None
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


class Backoff:
    """Seconds to wait before transient retry ``n``: a tenacity wait strategy.

    Exponential with jitter by default (0.5 s, 1 s, 2 s ... at most 30 s, plus up to
    one second at random), and never less than a ``Retry-After`` the server sent.
    """

    def __init__(self, wait: Callable[..., float] | None = None) -> None:
        import tenacity  # at decoration time, not at `import llmguard`

        self.wait = wait or tenacity.wait_exponential(
            multiplier=0.5, max=30
        ) + tenacity.wait_random(0, 1)

    def __call__(self, number: int, exc: BaseException) -> float:
        import tenacity

        state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = number
        state.outcome = _failed_future(exc, number)
        seconds = float(self.wait(state))
        asked = retry_after(exc)
        return seconds if asked is None else max(seconds, asked)


def _failed_future(exc: BaseException, number: int) -> Any:
    import tenacity

    future = tenacity.Future(number)
    future.set_exception(exc)
    return future
