"""The one place that tells sync, async, generator and async-generator callables apart.

A decorator in llmguard is a *handler* with four entry points, one per kind of
function. `wrap` looks at the function once, at decoration time, and builds a
``wrapt.FunctionWrapper`` whose wrapper is the matching entry point, so methods,
classmethods and staticmethods bind as usual and the signature, ``__wrapped__`` and
``inspect.iscoroutinefunction`` / ``isasyncgenfunction`` stay those of the function.
"""

from __future__ import annotations

import enum
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Protocol, TypeVar, cast

__all__ = ["CallKind", "Handler", "call_kind", "positional_names", "unwrap_callable", "wrap"]

F = TypeVar("F", bound=Callable[..., Any])

#: What a handler's entry points receive: the wrapped callable (bound when the function
#: is a method), the instance or class it was bound to (or ``None``), and the arguments.
Wrapped = Callable[..., Any]


class CallKind(enum.Enum):
    """The four kinds of callable llmguard wraps differently."""

    SYNC = "sync"
    ASYNC = "async"
    GENERATOR = "generator"
    ASYNC_GENERATOR = "async_generator"


class Handler(Protocol):
    """What a decorator does around a call, once for each kind of function."""

    def call(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Run around a plain function call."""

    def acall(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Awaitable[Any]:
        """Run around a coroutine function's call; must itself be a coroutine function."""

    def gen(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Iterator[Any]:
        """Run around a generator function; must itself be a generator function."""

    def agen(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> AsyncIterator[Any]:
        """Run around an async generator function; must itself be one."""


def unwrap_callable(fn: Any) -> Callable[..., Any]:
    """The plain function behind a classmethod, staticmethod or ``functools.partial``."""
    while True:
        if isinstance(fn, (classmethod, staticmethod)):
            fn = fn.__func__
        elif isinstance(fn, functools.partial):
            fn = fn.func
        else:
            return cast("Callable[..., Any]", fn)


def call_kind(fn: Any) -> CallKind:
    """Which of the four kinds ``fn`` is, seen through decorators that keep ``__wrapped__``."""
    target = inspect.unwrap(unwrap_callable(fn))
    if not (inspect.isroutine(target) or isinstance(target, type)):
        # An instance is called through its class's ``__call__``, which says its kind.
        call = inspect.getattr_static(type(target), "__call__", None)
        if call is not None:
            target = inspect.unwrap(unwrap_callable(call))
    if inspect.isasyncgenfunction(target):
        return CallKind.ASYNC_GENERATOR
    if inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(fn):
        return CallKind.ASYNC
    if inspect.isgeneratorfunction(target):
        return CallKind.GENERATOR
    return CallKind.SYNC


def wrap(fn: F, handler: Handler) -> F:
    """Wrap ``fn`` so every call goes through the handler entry point for its kind."""
    # wrapt imports asyncio and importlib.metadata: ``import llmguard`` leaves that to
    # the first decoration.
    import wrapt

    kind = call_kind(fn)
    if kind is CallKind.SYNC:
        wrapper: Callable[..., Any] = handler.call
    elif kind is CallKind.ASYNC:
        wrapper = handler.acall
    elif kind is CallKind.GENERATOR:
        wrapper = handler.gen
    else:
        wrapper = handler.agen
    return cast("F", wrapt.FunctionWrapper(fn, wrapper))


def positional_names(fn: Any) -> tuple[tuple[str, ...], bool]:
    """Names of ``fn``'s positional parameters, and whether the first is ``self``/``cls``.

    Used to turn a call's positional arguments into named ones when content is captured;
    computed once per decorated function.
    """
    try:
        # inspect.signature already leaves out what a functools.partial has bound.
        params = inspect.signature(getattr(fn, "__func__", fn)).parameters.values()
    except (TypeError, ValueError):
        return (), False
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = tuple(p.name for p in params if p.kind in kinds)
    is_method = bool(names) and names[0] in ("self", "cls") and not isinstance(fn, staticmethod)
    return names, is_method
