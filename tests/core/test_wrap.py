"""Telling sync, async, generator and async-generator callables apart, and wrapping them."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from llmguard._core.wrap import CallKind, call_kind, positional_names, unwrap_callable, wrap


def sync_fn(x: int) -> int:
    return x + 1


async def async_fn(x: int) -> int:
    return x + 1


def gen_fn(x: int) -> Iterator[int]:
    yield x
    yield x + 1


async def agen_fn(x: int) -> AsyncIterator[int]:
    yield x
    yield x + 1


def wraps_async(fn: Callable[..., Awaitable[int]]) -> Callable[..., Awaitable[int]]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Awaitable[int]:
        return fn(*args, **kwargs)

    return wrapper


class Recorder:
    """A handler that records which entry point ran and what it received."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, Any, tuple[Any, ...], dict[str, Any]]] = []

    def call(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        self.calls.append(("call", wrapped, instance, args, kwargs))
        return wrapped(*args, **kwargs)

    async def acall(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        self.calls.append(("acall", wrapped, instance, args, kwargs))
        return await wrapped(*args, **kwargs)

    def gen(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Iterator[Any]:
        self.calls.append(("gen", wrapped, instance, args, kwargs))
        yield from wrapped(*args, **kwargs)

    async def agen(
        self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> AsyncIterator[Any]:
        self.calls.append(("agen", wrapped, instance, args, kwargs))
        async for item in wrapped(*args, **kwargs):
            yield item

    @property
    def entry_points(self) -> list[str]:
        return [c[0] for c in self.calls]

    @property
    def instances(self) -> list[Any]:
        return [c[2] for c in self.calls]


# -- call_kind -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fn", "kind"),
    [
        (sync_fn, CallKind.SYNC),
        (async_fn, CallKind.ASYNC),
        (gen_fn, CallKind.GENERATOR),
        (agen_fn, CallKind.ASYNC_GENERATOR),
        (lambda: None, CallKind.SYNC),
        (len, CallKind.SYNC),
    ],
    ids=["sync", "async", "generator", "async-generator", "lambda", "builtin"],
)
def test_call_kind_tells_the_four_kinds_apart(fn: Any, kind: CallKind) -> None:
    """Plain, coroutine, generator and async generator functions each get their own kind."""
    assert call_kind(fn) is kind


@pytest.mark.parametrize(
    ("fn", "kind"),
    [(sync_fn, CallKind.SYNC), (async_fn, CallKind.ASYNC), (gen_fn, CallKind.GENERATOR)],
)
@pytest.mark.parametrize("descriptor", [classmethod, staticmethod])
def test_call_kind_sees_through_classmethod_and_staticmethod(
    descriptor: Any, fn: Any, kind: CallKind
) -> None:
    """A classmethod or staticmethod object has the kind of the function inside it."""
    assert call_kind(descriptor(fn)) is kind


def test_call_kind_sees_through_classmethod_of_async_generator() -> None:
    """A classmethod around an async generator function is an async generator."""
    assert call_kind(classmethod(agen_fn)) is CallKind.ASYNC_GENERATOR


@pytest.mark.parametrize(
    ("fn", "kind"),
    [
        (sync_fn, CallKind.SYNC),
        (async_fn, CallKind.ASYNC),
        (gen_fn, CallKind.GENERATOR),
        (agen_fn, CallKind.ASYNC_GENERATOR),
    ],
)
def test_call_kind_sees_through_functools_partial(fn: Any, kind: CallKind) -> None:
    """A partial (even a partial of a partial) has the kind of its function."""
    assert call_kind(functools.partial(fn, 1)) is kind
    assert call_kind(functools.partial(functools.partial(fn), 1)) is kind


def test_call_kind_sees_through_functools_wraps_around_async() -> None:
    """A plain wrapper made with functools.wraps around a coroutine function is async."""
    assert call_kind(wraps_async(async_fn)) is CallKind.ASYNC


class _AsyncCallable:
    async def __call__(self, x: int) -> int:
        return x + 1


class _GenCallable:
    def __call__(self, x: int) -> Iterator[int]:
        yield x


class _AsyncGenCallable:
    async def __call__(self, x: int) -> AsyncIterator[int]:
        yield x


class _SyncCallable:
    def __call__(self, x: int) -> int:
        return x + 1


@pytest.mark.parametrize(
    ("fn", "kind"),
    [
        (_SyncCallable(), CallKind.SYNC),
        (_AsyncCallable(), CallKind.ASYNC),
        (_GenCallable(), CallKind.GENERATOR),
        (_AsyncGenCallable(), CallKind.ASYNC_GENERATOR),
        (functools.partial(_AsyncCallable(), 1), CallKind.ASYNC),
    ],
    ids=["sync", "async", "generator", "async-generator", "partial-of-async"],
)
def test_call_kind_of_a_callable_instance_is_its_call_method(fn: Any, kind: CallKind) -> None:
    """An instance is called through its class's ``__call__``: that method says its kind
    (an ``async def __call__`` was taken for a sync function, so the span ended when
    the coroutine was made)."""
    assert call_kind(fn) is kind


async def test_a_traced_callable_instance_with_async_call_times_the_await() -> None:
    """The wrapper of an instance with ``async def __call__`` is awaited whole: the
    handler's ``acall`` runs and gets the value, not a coroutine."""
    handler = Recorder()
    wrapped = wrap(_AsyncCallable(), handler)
    assert await wrapped(1) == 2
    assert [entry[0] for entry in handler.calls] == ["acall"]


def test_unwrap_callable_finds_the_function_inside_descriptors_and_partials() -> None:
    """unwrap_callable returns the plain function behind nested descriptors and partials."""
    assert unwrap_callable(staticmethod(functools.partial(gen_fn, 1))) is gen_fn
    assert unwrap_callable(classmethod(sync_fn)) is sync_fn
    assert unwrap_callable(sync_fn) is sync_fn


# -- wrap ----------------------------------------------------------------------------


def test_wrap_routes_sync_functions_to_call() -> None:
    """A plain function goes through call() with no instance."""
    handler = Recorder()
    wrapped = wrap(sync_fn, handler)
    assert wrapped(1) == 2
    assert handler.calls == [("call", sync_fn, None, (1,), {})]


async def test_wrap_routes_coroutine_functions_to_acall() -> None:
    """A coroutine function goes through acall() and stays a coroutine function."""
    handler = Recorder()
    wrapped = wrap(async_fn, handler)
    assert inspect.iscoroutinefunction(wrapped)
    assert await wrapped(x=1) == 2
    assert handler.calls == [("acall", async_fn, None, (), {"x": 1})]


def test_wrap_routes_generator_functions_to_gen() -> None:
    """A generator function goes through gen() and stays a generator function."""
    handler = Recorder()
    wrapped = wrap(gen_fn, handler)
    assert inspect.isgeneratorfunction(wrapped)
    assert list(wrapped(1)) == [1, 2]
    assert handler.entry_points == ["gen"]


async def test_wrap_routes_async_generator_functions_to_agen() -> None:
    """An async generator function goes through agen() and stays one."""
    handler = Recorder()
    wrapped = wrap(agen_fn, handler)
    assert inspect.isasyncgenfunction(wrapped)
    assert [item async for item in wrapped(1)] == [1, 2]
    assert handler.entry_points == ["agen"]


async def test_wrap_routes_functools_wraps_of_async_to_acall() -> None:
    """A functools.wraps wrapper around a coroutine function goes through acall()."""
    handler = Recorder()
    wrapped = wrap(wraps_async(async_fn), handler)
    assert await wrapped(1) == 2
    assert handler.entry_points == ["acall"]


def test_wrap_keeps_name_signature_and_wrapped() -> None:
    """The wrapper reports the function's name, signature and __wrapped__."""
    wrapped = wrap(sync_fn, Recorder())
    assert wrapped.__name__ == "sync_fn"
    assert wrapped.__wrapped__ is sync_fn
    assert inspect.signature(wrapped) == inspect.signature(sync_fn)


class Service:
    """Methods of every kind, each wrapped with the same handler."""

    handler = Recorder()

    def method(self, x: int) -> int:
        return x * 2

    async def amethod(self, x: int) -> int:
        return x * 3

    def gmethod(self, x: int) -> Iterator[int]:
        yield x

    async def agmethod(self, x: int) -> AsyncIterator[int]:
        yield x

    @classmethod
    def cmethod(cls, x: int) -> tuple[type, int]:
        return cls, x

    @staticmethod
    def smethod(x: int) -> int:
        return -x

    method = wrap(method, handler)
    amethod = wrap(amethod, handler)
    gmethod = wrap(gmethod, handler)
    agmethod = wrap(agmethod, handler)
    cmethod = wrap(cmethod, handler)  # type: ignore[assignment]
    smethod = wrap(smethod, handler)  # type: ignore[assignment]


class SubService(Service):
    """A subclass, to show classmethods bind to the class they are called on."""


@pytest.fixture
def service_handler() -> Iterator[Recorder]:
    Service.handler.calls.clear()
    yield Service.handler
    Service.handler.calls.clear()


async def test_wrap_passes_the_instance_for_methods_of_every_kind(
    service_handler: Recorder,
) -> None:
    """Methods bind: the handler gets the instance and the arguments without self."""
    obj = Service()
    assert obj.method(2) == 4
    assert await obj.amethod(2) == 6
    assert list(obj.gmethod(2)) == [2]
    assert [i async for i in obj.agmethod(2)] == [2]
    assert service_handler.entry_points == ["call", "acall", "gen", "agen"]
    assert service_handler.instances == [obj] * 4
    assert [c[3] for c in service_handler.calls] == [(2,)] * 4


def test_wrap_passes_the_class_for_classmethods(service_handler: Recorder) -> None:
    """A classmethod's handler gets the class it was called on, from the class or an instance."""
    assert Service.cmethod(1) == (Service, 1)
    assert Service().cmethod(2) == (Service, 2)
    assert SubService.cmethod(3) == (SubService, 3)
    assert service_handler.instances == [Service, Service, SubService]
    assert [c[3] for c in service_handler.calls] == [(1,), (2,), (3,)]


def test_wrap_passes_no_instance_for_staticmethods(service_handler: Recorder) -> None:
    """A staticmethod's handler gets None as instance and all the arguments."""
    assert Service.smethod(1) == -1
    assert Service().smethod(2) == -2
    assert service_handler.instances == [None, None]
    assert [c[3] for c in service_handler.calls] == [(1,), (2,)]


# -- positional_names ----------------------------------------------------------------


def plain(a: int, b: int, /, c: int, *args: int, d: int = 0, **kwargs: int) -> None:
    """Positional-only, positional-or-keyword, variadic and keyword-only parameters."""


class Host:
    def method(self, x: int, y: int = 0) -> None:
        """A method."""

    @classmethod
    def cmethod(cls, x: int) -> None:
        """A classmethod."""

    @staticmethod
    def smethod(self: int, x: int) -> None:
        """A staticmethod whose first parameter happens to be called self."""


def test_positional_names_of_a_plain_function() -> None:
    """Only positional parameters are named, in order, and it is not a method."""
    assert positional_names(plain) == (("a", "b", "c"), False)
    assert positional_names(lambda: None) == ((), False)


def test_positional_names_of_a_method() -> None:
    """A function whose first parameter is self or cls is a method."""
    assert positional_names(Host.__dict__["method"]) == (("self", "x", "y"), True)
    assert positional_names(Host.__dict__["cmethod"]) == (("cls", "x"), True)


def test_positional_names_of_a_staticmethod() -> None:
    """A staticmethod is never a method, even with a first parameter named self."""
    assert positional_names(Host.__dict__["smethod"]) == (("self", "x"), False)


def test_positional_names_of_a_partial_leave_out_bound_arguments() -> None:
    """A partial's names are those still to be passed, as its callers pass them."""
    assert positional_names(functools.partial(plain, 1)) == (("b", "c"), False)
    assert positional_names(functools.partial(sync_fn, 1)) == ((), False)


def test_positional_names_of_a_builtin_without_signature() -> None:
    """A builtin whose signature cannot be read gives no names."""
    with pytest.raises(ValueError, match="no signature"):
        inspect.signature(min)
    assert positional_names(min) == ((), False)
