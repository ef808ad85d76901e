"""Which budgets are open in the current context, and how ``@budget`` opens one per call."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

from llmguard._wrap import Wrapped

if TYPE_CHECKING:
    from llmguard._budget import Budget

R = TypeVar("R")

_active: ContextVar[tuple[Budget, ...]] = ContextVar("llmguard.budgets", default=())


def active() -> tuple[Budget, ...]:
    """The budgets open in the current context, outermost first, each once."""
    stack = _active.get()
    if len(stack) < 2:
        return stack
    return tuple(dict.fromkeys(stack))


class _Decorated:
    """The handler behind ``@budget``: the budget active only while the function runs."""

    __slots__ = ("budget",)

    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    def call(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        token = _active.set((*_active.get(), self.budget))
        try:
            return wrapped(*args, **kwargs)
        finally:
            _active.reset(token)

    async def acall(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        token = _active.set((*_active.get(), self.budget))
        try:
            return await wrapped(*args, **kwargs)
        finally:
            _active.reset(token)

    def gen(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Iterator[Any]:
        return _stepwise(self.budget, lambda: wrapped(*args, **kwargs))

    def agen(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> AsyncIterator[Any]:
        return _astepwise(self.budget, lambda: wrapped(*args, **kwargs))


def _step(budget: Budget, fn: Callable[..., R], *args: Any) -> R:
    token = _active.set((*_active.get(), budget))
    try:
        return fn(*args)
    finally:
        _active.reset(token)


def _stepwise(
    budget: Budget, make: Callable[[], Generator[Any, Any, Any]]
) -> Generator[Any, Any, Any]:
    # A generator runs in its consumer's context: the budget is made active around each
    # step of the inner generator only, never while the consumer holds an item.
    inner = _step(budget, make)
    to_send: Any = None
    to_throw: BaseException | None = None
    while True:
        try:
            if to_throw is None:
                item = _step(budget, inner.send, to_send)
            else:
                thrown, to_throw = to_throw, None
                item = _step(budget, inner.throw, thrown)
        except StopIteration as stop:
            return stop.value
        try:
            to_send = yield item
        except GeneratorExit:
            _step(budget, inner.close)
            raise
        except BaseException as exc:
            to_throw = exc


async def _astepwise(
    budget: Budget, make: Callable[[], AsyncGenerator[Any, Any]]
) -> AsyncGenerator[Any, Any]:
    inner = _step(budget, make)
    to_send: Any = None
    to_throw: BaseException | None = None
    while True:
        token = _active.set((*_active.get(), budget))
        try:
            if to_throw is None:
                item = await inner.asend(to_send)
            else:
                thrown, to_throw = to_throw, None
                item = await inner.athrow(thrown)
        except StopAsyncIteration:
            return
        finally:
            _active.reset(token)
        try:
            to_send = yield item
        except GeneratorExit:
            token = _active.set((*_active.get(), budget))
            try:
                await inner.aclose()
            finally:
                _active.reset(token)
            raise
        except BaseException as exc:
            to_throw = exc
