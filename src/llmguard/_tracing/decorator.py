"""``@lg.trace``: a span around every call of a function, generator or coroutine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, ParamSpec, TypeVar, overload

from llmguard._core.records import RecordKind, StreamEnd
from llmguard._core.wrap import Wrapped, positional_names, unwrap_callable, wrap
from llmguard._tracing.open_streams import EndClaim, closed, opened
from llmguard._tracing.spans import Span, active_span, captured, capturing_content, check_kind
from llmguard._tracing.stepping import astepped, stepped
from llmguard.exceptions import ConfigurationError

__all__ = ["trace"]

P = ParamSpec("P")
R = TypeVar("R")


class _Tracer:
    """The handler behind ``@lg.trace``: one span around every call of the function."""

    __slots__ = ("arg_names", "attributes", "is_method", "kind", "name")

    def __init__(
        self, fn: Any, name: str, kind: RecordKind, attributes: dict[str, Any] | None
    ) -> None:
        self.name = name
        self.kind = kind
        self.attributes = attributes
        self.arg_names, self.is_method = positional_names(fn)

    def _open(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Span:
        opened = Span(self.name, self.kind, self.attributes).start()
        if capturing_content():
            opened._in, opened._in_size = captured(self._named(instance, args, kwargs))
        return opened

    def _close(self, opened: Span, result: Any) -> None:
        opened.stop_clock()
        opened.set_call_output(result)

    def _named(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        names = self.arg_names
        if self.is_method and instance is not None:
            names = names[1:]
        # zip stops at the shorter: extra positionals are kept below. (Passing
        # strict=False, which says the same, costs a keyword parse on every call.)
        named = dict(zip(names, args))  # noqa: B905
        if len(args) > len(names):
            named["*args"] = args[len(names) :]
        return {**named, **kwargs} if kwargs else named

    def call(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        opened = self._open(instance, args, kwargs)
        token = active_span.set(opened)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            opened.record_exception(exc)
            raise
        else:
            self._close(opened, result)
        finally:
            active_span.reset(token)
            opened.end()
        return result

    async def acall(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        opened = self._open(instance, args, kwargs)
        token = active_span.set(opened)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            opened.record_exception(exc)
            raise
        else:
            self._close(opened, result)
        finally:
            active_span.reset(token)
            opened.end()
        return result

    def gen(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Iterator[Any]:
        # The span opens at the first next(): a generator never started leaves none.
        return stepped(
            active_span,
            lambda: _SpanWatch(self._open(instance, args, kwargs)),
            lambda: wrapped(*args, **kwargs),
        )

    def agen(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> AsyncIterator[Any]:
        return astepped(
            active_span,
            lambda: _SpanWatch(self._open(instance, args, kwargs)),
            lambda: wrapped(*args, **kwargs),
        )


class _SpanWatch:
    """A traced generator's span: current during each step, told the items and the end."""

    __slots__ = ("__weakref__", "_claim", "items", "span")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.items = 0
        self._claim = EndClaim()  # the generator's own end or the exit's, whichever is first
        opened(self)

    def value(self) -> Span:
        return self.span

    def item(self) -> None:
        self.items += 1

    def ended(self, end: StreamEnd, error: BaseException | None) -> None:
        closed(self)
        if not self._claim.take():  # already ended at exit (`interrupted`)
            return
        if error is not None:
            self.span.record_exception(error)
        self.span.set_stream(self.items, end)
        self.span.end()

    def interrupted(self) -> None:
        if self._claim.take():
            self.span.set_stream(self.items, "interrupted")
            self.span.end()


@overload
def trace(fn: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def trace(
    *, name: str | None = None, kind: RecordKind = "span", **attributes: Any
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def trace(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    kind: RecordKind = "span",
    **attributes: Any,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Record a span for every call of the decorated function.

    Works on functions, coroutine functions, generators, async generators and
    methods, as ``@lg.trace`` or ``@lg.trace(name=..., kind=..., **attributes)``.
    The span is named after the function's qualified name unless ``name`` is given;
    arguments and the return value are captured when content capture is on.
    Exceptions are recorded and re-raised unchanged. A generator's span ends when it
    is exhausted, closed, garbage collected or cancelled, or at interpreter exit if it
    is still open then, with the number of items it delivered.

    Raises:
        ConfigurationError: The decorated object is not callable, or ``name`` or
            ``kind`` is not valid.
    """
    if name is not None and (not isinstance(name, str) or not name):
        raise ConfigurationError(f"trace name must be a non-empty string, not {name!r}")
    check_kind(kind)

    def decorate(target: Callable[P, R]) -> Callable[P, R]:
        inner = unwrap_callable(target)
        if not callable(inner):
            raise ConfigurationError(f"@lg.trace needs a function, not {target!r}")
        span_name = name or getattr(inner, "__qualname__", None) or type(inner).__qualname__
        return wrap(target, _Tracer(target, span_name, kind, attributes or None))

    return decorate if fn is None else decorate(fn)
