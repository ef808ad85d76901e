"""The drivers of the guarded flow: the only code that calls, sleeps or iterates.

`llmguard._guard.flow.guarded_flow` is a generator that yields the requests below and is sent
a `Result` for each. `run_sync` and `run_async` carry them out, each in its own world,
so the flow's policy exists once for both.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmguard._tracing.spans import Span, active_span
from llmguard.adapters import accumulator_for

if TYPE_CHECKING:
    from llmguard._guard.call import Call

__all__ = [
    "Drain",
    "Invoke",
    "Pause",
    "Result",
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
    value, or the exception that cut the stream short.
    """

    stream: Any


@dataclass(slots=True)
class Result:
    """What happened when the driver did what the flow asked: a value or an exception."""

    value: Any = None
    error: BaseException | None = None


def run_sync(
    flow: Generator[Invoke | Pause | Drain, Any, Any], sleep: Callable[[float], object]
) -> Any:
    """Drive a flow with plain calls and a blocking sleep."""
    try:
        request = next(flow)
    except StopIteration as stop:  # done before asking for anything (see `Started`)
        return stop.value
    while True:
        if isinstance(request, Invoke):
            sent: Any = invoke_sync(request.call, request.span)
        elif isinstance(request, Pause):
            sleep(request.seconds)
            sent = None
        else:
            sent = drain_sync(request.stream)
        try:
            request = flow.send(sent)
        except StopIteration as stop:
            return stop.value


async def run_async(
    flow: Generator[Invoke | Pause | Drain, Any, Any], sleep: Callable[[float], object] | None
) -> Any:
    """Drive a flow with awaited calls and ``asyncio.sleep`` (or the injected sleep)."""
    try:
        request = next(flow)
    except StopIteration as stop:
        return stop.value
    while True:
        if isinstance(request, Invoke):
            sent: Any = await invoke_async(request.call, request.span)
        elif isinstance(request, Pause):
            waited = (sleep or asyncio.sleep)(request.seconds)
            if inspect.isawaitable(waited):
                await waited
            sent = None
        else:
            sent = await drain_async(request.stream)
        try:
            request = flow.send(sent)
        except StopIteration as stop:
            return stop.value


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
    """Read a stream to its end: its reply, or the exception that cut it short."""
    accumulator = None
    try:
        try:
            for chunk in stream:
                if accumulator is None:
                    accumulator = accumulator_for(chunk)
                    if accumulator is None:
                        continue
                accumulator.feed(chunk)
        finally:
            _close(stream)
    except BaseException as exc:
        return Result(error=exc)
    return Result(value=None if accumulator is None else accumulator.reply())


async def drain_async(stream: Any) -> Result:
    """Read a sync or async stream to its end: its reply, or the exception that cut it short."""
    if not hasattr(stream, "__anext__"):
        return drain_sync(stream)
    accumulator = None
    try:
        try:
            async for chunk in stream:
                if accumulator is None:
                    accumulator = accumulator_for(chunk)
                    if accumulator is None:
                        continue
                accumulator.feed(chunk)
        finally:
            closer = getattr(stream, "aclose", None) or getattr(stream, "close", None)
            if closer is not None:
                closed = closer()
                if inspect.isawaitable(closed):
                    await closed
    except BaseException as exc:
        return Result(error=exc)
    return Result(value=None if accumulator is None else accumulator.reply())


def _close(stream: Any) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()
