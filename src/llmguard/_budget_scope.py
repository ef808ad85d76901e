"""Which budgets are open in the current context, and how ``@budget`` opens one per call."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

from llmguard._stepping import astepped, stepped
from llmguard._wrap import Wrapped

if TYPE_CHECKING:
    from llmguard._budget import Budget
    from llmguard._records import StreamEnd

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
        return stepped(_active, self._watch, lambda: wrapped(*args, **kwargs))

    def agen(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> AsyncIterator[Any]:
        return astepped(_active, self._watch, lambda: wrapped(*args, **kwargs))

    def _watch(self) -> _Opened:
        return _Opened(self.budget)


class _Opened:
    """A decorated generator's budget, open during each of its steps.

    Each step opens it on the stack of the context the consumer steps it from.
    """

    __slots__ = ("budget",)

    def __init__(self, budget: Budget) -> None:
        self.budget = budget

    def value(self) -> tuple[Budget, ...]:
        return (*_active.get(), self.budget)

    def item(self) -> None:
        pass

    def ended(self, end: StreamEnd, error: BaseException | None) -> None:
        pass
