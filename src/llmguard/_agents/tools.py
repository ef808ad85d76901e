"""Tools: ``@lg.tool`` checks a model's arguments; ``lg.call_tool`` dispatches its calls.

A tool is a function whose type hints describe its arguments. At decoration time they
become a pydantic model, and from it the JSON Schema a model is shown; at every call the
arguments are validated (in pydantic's lax mode, so ``"3"`` is an ``int``) before the
function runs, inside a ``tool`` span, with transient failures retried.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    ParamSpec,
    TypeVar,
    get_type_hints,
    overload,
)

import wrapt

from llmguard._agents.runs import as_seconds, on_tool_call
from llmguard._core.field_errors import FieldError
from llmguard._core.wrap import CallKind, Wrapped, call_kind, positional_names, unwrap_callable
from llmguard._delivery import settings as _config
from llmguard._guard.transient import Backoff, is_transient
from llmguard._tracing.spans import Span
from llmguard.exceptions import ConfigurationError, ToolDenied, ToolInputError, ToolOutputError

if TYPE_CHECKING:
    from llmguard._guard.schema import CompiledSchema

__all__ = ["Tool", "acall_tool", "call_tool", "tool"]

P = ParamSpec("P")
R = TypeVar("R")
P2 = ParamSpec("P2")
R2 = TypeVar("R2")
S = TypeVar("S")

# What OpenAI and Anthropic accept as a function name.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# The OpenTelemetry GenAI operation a tool call is, as agent runs say "invoke_agent".
_TOOL_ATTRIBUTES = {"operation": "execute_tool"}
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


class ToolSpec:
    """What one tool knows, built once at decoration: its model, schema and policies."""

    def __init__(
        self,
        fn: Any,
        *,
        name: str | None,
        retries: int,
        timeout_s: float | None,
        output_schema: Any,
        retry_on: type[BaseException] | tuple[type[BaseException], ...],
        sleep: Callable[[float], object] | None,
        requires_approval: bool = False,
    ) -> None:
        inner = unwrap_callable(fn)
        if not callable(inner):
            raise ConfigurationError(f"@lg.tool needs a function, not {fn!r}")
        self.kind = call_kind(fn)
        if self.kind in (CallKind.GENERATOR, CallKind.ASYNC_GENERATOR):
            raise ConfigurationError(f"@lg.tool cannot wrap a generator function: {fn!r}")
        self.name = getattr(inner, "__name__", "") if name is None else name
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigurationError(
                f"tool name must be 1-64 letters, digits, '_' or '-', not {self.name!r}"
            )
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigurationError(f"retries must be an int >= 0, not {retries!r}")
        self.retries = retries
        number = isinstance(timeout_s, (int, float)) and not isinstance(timeout_s, bool)
        if timeout_s is not None and (not number or not as_seconds(timeout_s) > 0):  # NaN too
            raise ConfigurationError(f"timeout_s must be a number > 0 or None, not {timeout_s!r}")
        self.timeout_s = timeout_s
        self.retry_on = retry_on if isinstance(retry_on, tuple) else (retry_on,)
        if not all(isinstance(t, type) and issubclass(t, BaseException) for t in self.retry_on):
            raise ConfigurationError(f"retry_on must be exception classes, not {retry_on!r}")
        if sleep is not None and not callable(sleep):
            raise ConfigurationError(f"sleep must be a callable, not {sleep!r}")
        self.sleep = sleep
        if not isinstance(requires_approval, bool):
            raise ConfigurationError(
                f"requires_approval must be True or False: {requires_approval!r}"
            )
        self.requires_approval = requires_approval
        self.backoff = Backoff()
        self.description = _first_paragraph(inspect.getdoc(inner))
        self.params = _parameters(inner, positional_names(fn)[1])
        self.signature = inspect.Signature(self.params)
        self.positional = tuple(p.name for p in self.params if p.kind not in _NAMED)
        self.model = _arguments_model(self.name, inner, self.params)
        self.output: CompiledSchema | None = None
        if output_schema is not None:
            from llmguard._guard.schema import compile_schema

            self.output = compile_schema(output_schema)
        try:
            self.parameters: dict[str, Any] = self.model.model_json_schema()
        except Exception as exc:
            raise ConfigurationError(f"tool {self.name!r}: no JSON Schema: {exc}") from None

    def validate(self, arguments: Any) -> dict[str, Any]:
        """The arguments checked and coerced, by parameter name.

        Raises:
            ToolInputError: Listing every invalid, missing or unexpected argument.
        """
        import pydantic

        from llmguard._guard.schema import pydantic_errors

        try:
            checked = self.model.model_validate(arguments)
        except pydantic.ValidationError as exc:
            errors = pydantic_errors(exc.errors(include_url=False))
            raise ToolInputError(self.name, errors) from None
        values = checked.__dict__
        return {p.name: values[f"p{i}"] for i, p in enumerate(self.params)}

    def _prepare(self, opened: Span, arguments: Any) -> tuple[list[Any], dict[str, Any]]:
        opened.set_input(arguments)  # replaced by the validated values when they are
        values = self.validate(arguments)
        opened.set_input(values)
        on_tool_call(self.name, values)
        return [values.pop(n) for n in self.positional], values

    def _finish(self, opened: Span, result: Any) -> Any:
        opened.stop_clock()
        opened.set_output(result)
        if self.output is not None:
            from llmguard._guard.schema import SchemaErrors

            try:
                self.output.validate(result)
            except SchemaErrors as exc:
                raise ToolOutputError(self.name, exc.errors) from None
        return result

    def run(self, fn: Wrapped, arguments: Any) -> Any:  # noqa: RET503 -- returns or raises
        """Validate ``arguments``, call ``fn`` with them and check the result."""
        with Span(self.name, "tool", _TOOL_ATTRIBUTES) as opened:
            args, kwargs = self._prepare(opened, arguments)
            if self.requires_approval:
                self._decide(self._ask(args, kwargs), opened)
            for attempt in itertools.count(1):
                try:
                    result = fn(*args, **dict(kwargs))
                except Exception as exc:
                    (self.sleep or time.sleep)(self._wait(attempt, exc))
                else:
                    return self._finish(opened, result)

    async def arun(self, fn: Wrapped, arguments: Any) -> Any:  # noqa: RET503
        """The async counterpart of `run`; ``timeout_s`` cancels each attempt."""
        with Span(self.name, "tool", _TOOL_ATTRIBUTES) as opened:
            args, kwargs = self._prepare(opened, arguments)
            if self.requires_approval:
                answer = self._ask(args, kwargs)
                self._decide(await answer if inspect.isawaitable(answer) else answer, opened)
            for attempt in itertools.count(1):
                try:
                    result = await self._attempt(fn(*args, **dict(kwargs)))
                except Exception as exc:
                    waited = (self.sleep or asyncio.sleep)(self._wait(attempt, exc))
                    if inspect.isawaitable(waited):
                        await waited
                else:
                    return self._finish(opened, result)

    def _ask(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """The approver's answer (maybe awaitable) for this call, by parameter name."""
        approver = _config.settings().approver
        if approver is None:
            raise ToolDenied(
                self.name,
                message=f"tool {self.name!r} needs approval and no "
                "approver is configured (lg.configure(approver=...))",
            )
        named = dict(zip((p.name for p in self.params), args, strict=False)) | kwargs
        return approver(self.name, named)

    def _decide(self, answer: Any, opened: Span) -> None:
        if inspect.isawaitable(answer):
            # A sync tool cannot wait for an async approver: deny rather than guess.
            close = getattr(answer, "close", None)
            if close is not None:
                close()
            raise ToolDenied(
                self.name,
                message=f"tool {self.name!r} is sync and the "
                "approver is async; give it a sync approver",
            )
        opened.set_attribute("approved", bool(answer))
        if not answer:
            raise ToolDenied(self.name, message=f"the approver denied the call of {self.name!r}")

    def _wait(self, attempt: int, exc: Exception) -> float:
        """Seconds to wait before retrying; re-raises ``exc`` when it is not retried."""
        if attempt > self.retries or not is_transient(exc, self.retry_on):
            raise exc
        return self.backoff(attempt, exc)

    async def _attempt(self, awaitable: Awaitable[Any]) -> Any:
        if self.timeout_s is None:
            return await awaitable
        try:
            return await asyncio.wait_for(awaitable, self.timeout_s)
        except asyncio.TimeoutError:  # not yet the builtin TimeoutError before 3.11
            raise TimeoutError(f"tool {self.name!r} took more than {self.timeout_s} s") from None

    def call(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        return self.run(wrapped, self.signature.bind_partial(*args, **kwargs).arguments)

    async def acall(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        return await self.arun(wrapped, self.signature.bind_partial(*args, **kwargs).arguments)


class _FunctionAnnotations(dict[str, Any]):
    """A tool's ``__annotations__``: its function's, read through the proxy.

    `_Described` holds a class-level ``{}`` (its annotation below makes one, even
    unexecuted), and reading ``Tool.__annotations__`` once stores another in `Tool`:
    either hides wrapt's proxying, and ``typing.get_type_hints`` on a tool then finds
    no hints. `Tool` and `BoundTool` hold this ahead of both. On the class it is an
    empty dict, which is what ``get_type_hints(Tool)`` reads.
    """

    def __get__(self, instance: Any, owner: type[Any] | None = None) -> Any:
        return self if instance is None else instance.__wrapped__.__annotations__

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__wrapped__.__annotations__ = value


_ANNOTATIONS = _FunctionAnnotations()


class _Described:
    """What a tool tells a model about itself, for `Tool` and `BoundTool` alike."""

    if TYPE_CHECKING:  # an annotation here would shadow the wrapped function's
        _self_spec: ToolSpec

    @property
    def name(self) -> str:
        return self._self_spec.name

    def json_schema(self) -> dict[str, Any]:
        """A fresh JSON Schema of the tool's arguments (an object, one property each)."""
        return json.loads(json.dumps(self._self_spec.parameters))  # type: ignore[no-any-return]

    def definition(self) -> dict[str, Any]:
        """The tool as an OpenAI-style function definition, for a request's ``tools``."""
        spec = self._self_spec
        function = {"name": spec.name, "description": spec.description}
        return {"type": "function", "function": {**function, "parameters": self.json_schema()}}


class Tool(_Described, wrapt.FunctionWrapper, Generic[P, R]):  # type: ignore[type-arg]
    """A function decorated with `tool`: still callable as before, and describable.

    Attributes:
        name: The name the model calls the tool by.
    """

    __annotations__ = _ANNOTATIONS  # the function's (see `_FunctionAnnotations`)

    def __init__(self, fn: Callable[P, R], spec: ToolSpec) -> None:
        entry = spec.acall if spec.kind is CallKind.ASYNC else spec.call
        super().__init__(fn, entry)
        self._self_spec = spec

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return super().__call__(*args, **kwargs)  # type: ignore[no-any-return]

    @overload  # type: ignore[override]
    def __get__(self, instance: None, owner: type[Any] | None = None) -> Tool[P, R]: ...

    @overload
    def __get__(
        self: Tool[Concatenate[S, P2], R2], instance: S, owner: type[Any] | None = None
    ) -> BoundTool[P2, R2]: ...

    def __get__(self, instance: Any, owner: type[Any] | None = None) -> Any:
        bound: Any = super().__get__(instance, owner)
        return self if bound is self else BoundTool(bound, self._self_spec)


class BoundTool(_Described, wrapt.CallableObjectProxy, Generic[P, R]):  # type: ignore[type-arg]
    """A tool method bound to its instance or class, with the tool's attributes."""

    __annotations__ = _ANNOTATIONS

    def __init__(self, bound: Any, spec: ToolSpec) -> None:
        super().__init__(bound)
        self._self_spec = spec

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.__wrapped__(*args, **kwargs)  # type: ignore[no-any-return]


@overload
def tool(fn: Callable[P, R], /) -> Tool[P, R]: ...


@overload
def tool(
    *,
    name: str | None = None,
    retries: int = 0,
    timeout_s: float | None = None,
    output_schema: Any = None,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = (),
    sleep: Callable[[float], object] | None = None,
    requires_approval: bool = False,
) -> Callable[[Callable[P, R]], Tool[P, R]]: ...


def tool(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    retries: int = 0,
    timeout_s: float | None = None,
    output_schema: Any = None,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = (),
    sleep: Callable[[float], object] | None = None,
    requires_approval: bool = False,
) -> Tool[P, R] | Callable[[Callable[P, R]], Tool[P, R]]:
    """Make a function (sync or async, or a method) a tool a model can call.

    Used as ``@lg.tool`` or ``@lg.tool(name=..., retries=...)``. The function's type
    hints become the JSON Schema of its arguments (`Tool.definition`). Every call
    validates the arguments first, coercing them as pydantic's lax mode does; invalid
    ones raise `ToolInputError` and the function is not called. The call is recorded
    as a ``tool`` span with the validated arguments and the result.

    Args:
        name: The tool's name; the function's name by default.
        retries: How many times a transient failure (a timeout, a rate limit, a 5xx, or
            one of ``retry_on``) is retried, with exponential backoff.
        timeout_s: Seconds an async tool may run before it is cancelled and
            `TimeoutError` is raised (a timeout counts as transient for ``retries``).
            A sync function cannot be interrupted: the option has no effect on it.
        output_schema: A pydantic model, type or JSON Schema dict the result must
            match; the result itself is returned unchanged.
        retry_on: Exception classes to treat as transient too.
        sleep: Waits between retries, for tests (may return an awaitable).
        requires_approval: Ask the approver set with ``lg.configure(approver=...)``
            before every call; a denial -- or no approver at all -- raises
            `ToolDenied` and the function is not called.

    Raises:
        ConfigurationError: At decoration: not a function, a generator, a bad option,
            an invalid ``output_schema`` or argument types pydantic cannot handle.
    """

    def decorate(target: Callable[P, R]) -> Tool[P, R]:
        spec = ToolSpec(
            target,
            name=name,
            retries=retries,
            timeout_s=timeout_s,
            output_schema=output_schema,
            retry_on=retry_on,
            sleep=sleep,
            requires_approval=requires_approval,
        )
        return Tool(target, spec)

    return decorate if fn is None else decorate(fn)


ToolSet = Sequence[Any] | Mapping[str, Any]


def call_tool(tools: ToolSet, name: str, arguments: str | Mapping[str, Any] | None) -> Any:
    """Run the tool a model asked for, by name, with its arguments.

    Args:
        tools: The tools offered to the model, or a dict of them by name.
        name: The tool call's function name.
        arguments: The call's arguments: a JSON object as text (``""`` means none) or
            a dict.

    Returns:
        The tool's result.

    Raises:
        ToolInputError: No tool has that name, the arguments are not JSON, or they
            are invalid; its message can be handed back to the model.
        ConfigurationError: The tool is async: use `acall_tool`.
    """
    spec, fn, parsed = _dispatch(tools, name, arguments)
    if spec.kind is CallKind.ASYNC:
        raise ConfigurationError(f"tool {name!r} is async: use lg.acall_tool")
    return spec.run(fn, parsed)


async def acall_tool(tools: ToolSet, name: str, arguments: str | Mapping[str, Any] | None) -> Any:
    """The async counterpart of `call_tool`; sync tools are called directly (blocking)."""
    spec, fn, parsed = _dispatch(tools, name, arguments)
    if spec.kind is CallKind.ASYNC:
        return await spec.arun(fn, parsed)
    return spec.run(fn, parsed)


def _same_tool(one: object, other: object) -> bool:
    """Whether two offered tools run the same thing: one definition, and for a method,
    the same object (one method bound to two objects is two tools)."""
    if getattr(one, "_self_spec", None) is not getattr(other, "_self_spec", None):
        return False
    if isinstance(one, BoundTool) and isinstance(other, BoundTool):
        return bool(one.__wrapped__.__wrapped__ == other.__wrapped__.__wrapped__)
    return not isinstance(one, BoundTool) and not isinstance(other, BoundTool)


def _dispatch(
    tools: ToolSet, name: str, arguments: str | Mapping[str, Any] | None
) -> tuple[ToolSpec, Wrapped, Any]:
    if isinstance(tools, Mapping):
        by_name = dict(tools)
    else:
        by_name = {}
        for offered in tools:
            named = getattr(offered, "name", repr(offered))
            other = by_name.setdefault(named, offered)
            if other is not offered and not _same_tool(other, offered):
                # The model sees two definitions and can call only one: refuse to guess.
                raise ConfigurationError(
                    f"two tools named {named!r} were offered ({other!r} and {offered!r}); "
                    "give one another name with @lg.tool(name=...)"
                )
    for key, value in by_name.items():
        if not isinstance(value, (Tool, BoundTool)):
            raise ConfigurationError(f"call_tool needs tools made with @lg.tool, not {value!r}")
        if not isinstance(key, str):
            raise ConfigurationError(f"tool names must be strings, not {key!r}")
    found = by_name.get(name)
    if found is None:
        available = ", ".join(repr(n) for n in sorted(by_name)) or "none"
        raise ToolInputError(
            str(name), message=f"unknown tool {name!r}; available tools: {available}"
        )
    spec: ToolSpec = found._self_spec
    # A bound tool proxies wrapt's bound wrapper, which proxies the bound method.
    fn = found.__wrapped__.__wrapped__ if isinstance(found, BoundTool) else found.__wrapped__
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return spec, fn, {}
    if isinstance(arguments, (str, bytes)):
        try:
            return spec, fn, json.loads(arguments)
        except (ValueError, RecursionError) as exc:
            from llmguard._guard.schema import shorten

            error = FieldError("$", f"Invalid JSON: {exc}", shorten(arguments))
            raise ToolInputError(spec.name, (error,)) from None
    return spec, fn, arguments


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def _parameters(fn: Any, is_method: bool) -> list[inspect.Parameter]:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        raise ConfigurationError(f"@lg.tool cannot read the signature of {fn!r}") from None
    if is_method:
        params = params[1:]
    for p in params:
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise ConfigurationError(
                f"a tool's parameters must be named; {fn!r} takes *{p.name} or **{p.name}"
            )
    return params


def _arguments_model(name: str, fn: Any, params: list[inspect.Parameter]) -> Any:
    import pydantic

    try:
        hints = get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise ConfigurationError(f"tool {name!r}: cannot resolve its type hints: {exc}") from None
    # Fields are named p0, p1... with the parameter names as aliases, so no parameter
    # name can collide with pydantic's own attributes.
    fields: dict[str, Any] = {}
    for i, p in enumerate(params):
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[f"p{i}"] = (hints.get(p.name, Any), pydantic.Field(default, alias=p.name))
    config = pydantic.ConfigDict(extra="forbid", title=name)
    try:
        return pydantic.create_model(name, __config__=config, **fields)
    except Exception as exc:
        raise ConfigurationError(f"tool {name!r}: pydantic cannot use it: {exc}") from None
