"""Generators run one step at a time with a context variable set around each step.

A generator runs in the context of whoever iterates it, not of whoever created it. To
keep a span current (``@lg.trace``) or a budget open (``@lg.budget``) inside a
decorated generator, the wrappers below set the variable around each step of the
inner generator only -- never while the consumer holds an item -- and pass ``send``,
``throw`` and ``close`` through as if the consumer held the inner generator itself. What
the generator's own code sets across a ``yield`` (a span opened around it) is set again
when it resumes, as if it ran in a context of its own.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

from llmguard._core.records import StreamEnd

__all__ = ["Watch", "astepped", "stepped"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Watch(Protocol[T_co]):
    """What a stepped generator reports to, created when its consumer first asks."""

    def value(self) -> T_co:
        """The context variable's value for the next step."""

    def item(self) -> None:
        """An item was handed to the consumer."""

    def ended(self, end: StreamEnd, error: BaseException | None) -> None:
        """The generator is done: how, and the exception that ended it, if any."""


# What a step of the generator left in the variable is set again at its next step
# (``kept``): a generator that yields inside ``with lg.span(...)`` (or a budget) must
# find that span current again when it resumes. One that left the variable as the step
# found it -- ``value``, or ``base``, the watch's value it was given last, once what it
# opened is closed -- gets the watch's value afresh (`_NOTHING`).
_NOTHING: Any = object()


def _within(var: ContextVar[T], value: T, fn: Callable[..., Any], *args: Any) -> Any:
    token = var.set(value)
    try:
        return fn(*args)
    finally:
        var.reset(token)


def stepped(
    var: ContextVar[T],
    begin: Callable[[], Watch[T]],
    make: Callable[[], Generator[Any, Any, Any]],
) -> Generator[Any, Any, Any]:
    """Run the generator ``make()`` with ``var`` set while each of its steps runs.

    ``begin()`` is called at the consumer's first ``next()``, so a generator never
    started costs nothing; the watch it returns gives the value for each step and
    hears of each item and of the end (exhausted, closed -- by the consumer or by
    garbage collection -- or an error).
    """
    watch = begin()
    end: StreamEnd = "exhausted"
    error: BaseException | None = None
    kept: Any = _NOTHING  # what the generator's own code left set at its last yield
    base: Any = _NOTHING
    try:
        inner = _within(var, watch.value(), make)
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            if kept is _NOTHING:
                value = base = watch.value()
            else:
                value = kept
            token = var.set(value)
            try:
                if to_throw is None:
                    item = inner.send(to_send)
                else:
                    thrown, to_throw = to_throw, None
                    item = inner.throw(thrown)
            except StopIteration as stop:
                return stop.value
            finally:
                left = var.get()
                kept = _NOTHING if left is value or left is base else left
                var.reset(token)
            watch.item()
            try:
                to_send = yield item
            except GeneratorExit:
                end = "closed"
                _within(var, watch.value() if kept is _NOTHING else kept, inner.close)
                raise
            except BaseException as exc:
                to_throw = exc
    except GeneratorExit:
        raise
    except BaseException as exc:
        end, error = "error", exc
        raise
    finally:
        watch.ended(end, error)


async def astepped(
    var: ContextVar[T],
    begin: Callable[[], Watch[T]],
    make: Callable[[], AsyncGenerator[Any, Any]],
) -> AsyncGenerator[Any, Any]:
    """The async counterpart of `stepped`; a cancelled generator ends as ``"cancelled"``."""
    import asyncio  # only async code gets here; ``import llmguard`` does not load asyncio

    watch = begin()
    end: StreamEnd = "exhausted"
    error: BaseException | None = None
    kept: Any = _NOTHING  # as in `stepped`
    base: Any = _NOTHING
    try:
        inner = _within(var, watch.value(), make)
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            if kept is _NOTHING:
                value = base = watch.value()
            else:
                value = kept
            token = var.set(value)
            try:
                if to_throw is None:
                    item = await inner.asend(to_send)
                else:
                    thrown, to_throw = to_throw, None
                    item = await inner.athrow(thrown)
            except StopAsyncIteration:
                return
            finally:
                left = var.get()
                kept = _NOTHING if left is value or left is base else left
                var.reset(token)
            watch.item()
            try:
                to_send = yield item
            except GeneratorExit:
                end = "closed"
                token = var.set(watch.value() if kept is _NOTHING else kept)
                try:
                    await inner.aclose()
                finally:
                    var.reset(token)
                raise
            except BaseException as exc:
                to_throw = exc
    except GeneratorExit:
        raise
    except asyncio.CancelledError as exc:
        end, error = "cancelled", exc
        raise
    except BaseException as exc:
        end, error = "error", exc
        raise
    finally:
        watch.ended(end, error)
