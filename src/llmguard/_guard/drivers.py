"""The one sync and the one async driver of a guarded call: the only code that calls,
sleeps or iterates.

A guarded call is a sequence of requests (`llmguard._guard.flow.Steps`): `Invoke` the
function, `Pause` before a retry, `Drain` a stream, each answered with a `Result`, until
`Done`. `advance_sync` and `advance_async` carry out the waits and stream reads and stop
at the next call to make; `run_sync` and `run_async` make that call themselves, while the
inline form (``guard.attempts(...)``) hands it to the caller's ``with`` block. So the
decorated call, its direct first attempt and the inline form share one driver per world.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from llmguard._tracing.spans import Span, active_span
from llmguard.adapters import StreamAccumulator, accumulator_for

if TYPE_CHECKING:
    from llmguard._guard.call import Call
    from llmguard.adapters import Reply

logger = logging.getLogger("llmguard")

__all__ = [
    "Done",
    "Drain",
    "Invoke",
    "Pause",
    "Requests",
    "Result",
    "reply_of",
    "aclose",
    "advance_async",
    "advance_sync",
    "close",
    "drain_async",
    "drain_sync",
    "invoke_async",
    "invoke_sync",
    "run_async",
    "run_sync",
]


@dataclass(slots=True)
class Invoke:
    """Ask the driver to call ``call`` with ``span`` as the current span."""

    call: Call
    span: Span


@dataclass(slots=True)
class Pause:
    """Ask the driver to wait before the next attempt."""

    seconds: float


@dataclass(slots=True)
class Drain:
    """Ask the driver to read a stream to its end and send back its `Reply`.

    The driver sends a `Result`: the reply (or ``None`` for an unknown shape) as its
    value, with the exception that cut the stream short, if any, beside what was read.
    """

    stream: Any


@dataclass(slots=True)
class Done:
    """The call is over: ``value`` is what the caller gets (or a stream hand-off)."""

    value: Any


@dataclass(slots=True)
class Result:
    """What happened when the driver did what the flow asked: a value or an exception.

    ``closed_with`` is what a drained stream's ``close()`` raised after the stream was
    read to its end: the answer is whole, so it is no ``error``, only recorded.
    ``response`` is the whole response a drained stream ended with, when its API sends
    one (the Responses API's final event), for the re-ask to read as it reads a response.
    """

    value: Any = None
    error: BaseException | None = None
    closed_with: Exception | None = None
    response: Any = None


class Requests(Protocol):
    """A guarded call's requests: `send` what the last one gave, get the next one."""

    def send(self, sent: Any, /) -> Invoke | Pause | Drain | Done:
        """The next request; ``None`` is sent for the first."""
        ...


def advance_sync(steps: Requests, sent: Any, sleep: Callable[[float], object]) -> Invoke | Done:
    """Send ``sent``, then wait and read streams as asked, up to the next call or the end."""
    request = steps.send(sent)
    while True:
        if isinstance(request, Pause):
            sleep(request.seconds)
            request = steps.send(None)
        elif isinstance(request, Drain):
            request = steps.send(drain_sync(request.stream))
        else:
            return request


async def advance_async(
    steps: Requests, sent: Any, sleep: Callable[[float], object] | None
) -> Invoke | Done:
    """`advance_sync` with ``asyncio.sleep`` (or an injected sleep) and async streams."""
    request = steps.send(sent)
    while True:
        if isinstance(request, Pause):
            waited = (sleep or asyncio.sleep)(request.seconds)
            if inspect.isawaitable(waited):
                await waited
            request = steps.send(None)
        elif isinstance(request, Drain):
            request = steps.send(await drain_async(request.stream))
        else:
            return request


def run_sync(steps: Requests, sleep: Callable[[float], object]) -> Any:
    """Drive a guarded call to its end with plain calls and a blocking sleep."""
    request = advance_sync(steps, None, sleep)
    while not isinstance(request, Done):
        request = advance_sync(steps, invoke_sync(request.call, request.span), sleep)
    return request.value


async def run_async(steps: Requests, sleep: Callable[[float], object] | None) -> Any:
    """Drive a guarded call to its end with awaited calls and ``asyncio.sleep``."""
    request = await advance_async(steps, None, sleep)
    while not isinstance(request, Done):
        result = await invoke_async(request.call, request.span)
        request = await advance_async(steps, result, sleep)
    return request.value


def invoke_sync(call: Call, span: Span) -> Result:
    """Call ``call`` with ``span`` current: its value, or the exception it raised."""
    token = active_span.set(span)
    try:
        return Result(value=call.fn(*call.args, **call.kwargs))
    except BaseException as exc:
        return Result(error=exc)
    finally:
        active_span.reset(token)


async def invoke_async(call: Call, span: Span) -> Result:
    """Call ``call`` with ``span`` current, awaiting what it returns if it is awaitable."""
    token = active_span.set(span)
    try:
        value = call.fn(*call.args, **call.kwargs)
        if inspect.isawaitable(value):
            value = await value
        return Result(value=value)
    except BaseException as exc:
        return Result(error=exc)
    finally:
        active_span.reset(token)


def drain_sync(stream: Any) -> Result:
    """Read a stream to its end: its reply, and the exception that cut it short, if any.

    A stream cut short still gives the reply read so far, so its records keep it, and
    the error that cut it; one read whole whose ``close()`` raised is no failure
    (`Result.closed_with`).
    """
    accumulator = None
    error: BaseException | None = None
    try:
        for chunk in stream:
            if accumulator is None:
                accumulator = accumulator_for(chunk)
                if accumulator is None:
                    continue
            accumulator.feed(chunk)
    except BaseException as exc:
        error = exc
    closed_with = None
    try:
        closed_with = close(stream)
    except BaseException as exc:  # Ctrl-C or a cancellation while closing
        error = error or exc
    return _drained(accumulator, error, closed_with)


async def drain_async(stream: Any) -> Result:
    """Read a sync or async stream to its end, as `drain_sync` does."""
    if not hasattr(stream, "__anext__"):
        return drain_sync(stream)
    accumulator = None
    error: BaseException | None = None
    try:
        async for chunk in stream:
            if accumulator is None:
                accumulator = accumulator_for(chunk)
                if accumulator is None:
                    continue
            accumulator.feed(chunk)
    except BaseException as exc:
        error = exc
    closed_with = None
    try:
        closed_with = await aclose(stream)
    except BaseException as exc:  # a cancellation while closing
        error = error or exc
    return _drained(accumulator, error, closed_with)


def _drained(
    accumulator: StreamAccumulator | None,
    error: BaseException | None,
    closed_with: Exception | None,
) -> Result:
    if accumulator is None:
        return Result(None, error, closed_with if error is None else None)
    # A stream cut short is an error already: what its close raised adds nothing.
    closed = closed_with if error is None else None
    return Result(reply_of(accumulator), error, closed, accumulator.response)


def reply_of(accumulator: StreamAccumulator | None) -> Reply | None:
    """The reply the chunks read so far make, or ``None`` when there is none: also when
    putting it together raises (a chunk holding an object that fails when read), so
    that the call's records are still written and the guard decides as for no answer."""
    if accumulator is None:
        return None
    try:
        return accumulator.reply()
    except Exception:
        logger.debug("llmguard: a stream's reply could not be put together", exc_info=True)
        return None


def close(stream: Any) -> Exception | None:
    """Close a stream; what its ``close()`` raised, if anything (a ``BaseException``
    such as ``KeyboardInterrupt`` is raised on)."""
    closer = getattr(stream, "close", None)
    if closer is not None:
        try:
            closer()
        except Exception as exc:
            return exc
    return None


async def aclose(stream: Any) -> Exception | None:
    """`close` for a sync or async stream: ``aclose()``, else ``close()``, awaited if it
    gives an awaitable."""
    closer = getattr(stream, "aclose", None) or getattr(stream, "close", None)
    if closer is not None:
        try:
            closed = closer()
            if inspect.isawaitable(closed):
                await closed
        except Exception as exc:
            return exc
    return None
