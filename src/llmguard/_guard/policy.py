"""``lg.guard``: output schemas with corrective retries around any LLM-calling function."""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, Literal, ParamSpec, TypedDict, TypeVar, overload

from typing_extensions import Unpack

from llmguard._core.wrap import CallKind, call_kind, unwrap_callable, wrap
from llmguard._guard.call import (
    Call,
    Parameters,
    Reask,
    as_messages,
    default_reask,
)
from llmguard._guard.flow import Plan
from llmguard._guard.handler import GuardHandler
from llmguard._guard.inline import Attempts
from llmguard._guard.limits import Limits
from llmguard._guard.partial import AsyncPartials, Partials, PartialStream, partials
from llmguard._guard.structured import Sender
from llmguard._guard.transient import Backoff, is_transient
from llmguard._spend.rate_limits import RateLimit
from llmguard._tracing.prompt import Prompt
from llmguard.exceptions import ConfigurationError

if TYPE_CHECKING:
    from llmguard._guard.schema import CompiledSchema
    from llmguard._guard.structured import SchemaRequest

__all__ = ["OPTION_DEFAULTS", "ContextOption", "Guard", "GuardOptions", "NoSchema", "guard"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class NoSchema:
    """The output type of a guard without a schema: functions keep their return type."""


class _ReturnsAny:
    """Never instantiated: the bound of `_AnyR`, so that only ``-> Any`` matches it."""


# Every `Guard.__call__` overload takes the function as `Callable[P, <type variable>]`, so
# that mypy infers the same parameter type for all of them. A signature mentioning Any
# makes mypy try every overload; had the matches inferred different parameter types, the
# call would be ambiguous and the guarded function `def (*Any, **Any) -> Any`. With equal
# ones the first match wins, and `_AnyR` puts a sync `-> Any` before the awaitable case.
_AnyR = TypeVar("_AnyR", bound=_ReturnsAny)
_AwaitableR = TypeVar("_AwaitableR", bound=Awaitable[Any])
_AsyncStreamR = TypeVar("_AsyncStreamR", bound=AsyncIterable[Any])


SendSchema = bool | Literal["json_schema", "tool", "prompt"]
"""How the schema reaches the model: ``True`` picks the provider's own way, a string forces one."""

_SEND_MODES = ("json_schema", "tool", "prompt")

ContextOption = Mapping[str, Any] | Callable[..., Mapping[str, Any]]
"""A dict passed to pydantic validators, or a callable of the call's arguments giving one."""


class GuardOptions(TypedDict, total=False):
    """The options of `lg.guard` besides ``schema`` and ``context``, written once.

    ``schema`` and ``context`` are left out because their types decide the guard's
    output type, so each overload of `guard` spells them; every other option is typed
    here, `Guard.__init__` and those overloads take them as ``**options``, the defaults
    are `OPTION_DEFAULTS`, and a test holds the options table of ``docs/guard.md`` to
    this list. See `guard` for what each one means.
    """

    retries: int
    reask: Reask | None
    retry_on: type[BaseException] | tuple[type[BaseException], ...]
    backoff: Callable[..., float] | None
    transient_retries: int
    fallbacks: Iterable[Callable[..., Any]]
    model: str | None
    provider: str | None
    name: str | None
    tags: Iterable[str]
    metadata: Mapping[str, Any] | None
    on_fail: Literal["raise", "return"]
    sleep: Callable[[float], object] | None
    max_input_tokens: int | None
    on_input_overflow: Literal["raise", "truncate"]
    max_output_tokens: int | None
    on_output_overflow: Literal["raise", "truncate"]
    max_total_tokens: int | None
    max_cost_usd: float | None
    unpriced: Literal["refuse", "allow"]
    prompt: Prompt | None
    rate_limit: RateLimit | None
    send_schema: SendSchema
    strict: bool
    repair: bool


OPTION_DEFAULTS: GuardOptions = {
    "retries": 1,
    "reask": None,
    "retry_on": (),
    "backoff": None,
    "transient_retries": 3,
    "fallbacks": (),
    "model": None,
    "provider": None,
    "name": None,
    "tags": (),
    "metadata": None,
    "on_fail": "raise",
    "sleep": None,
    "max_input_tokens": None,
    "on_input_overflow": "raise",
    "max_output_tokens": None,
    "on_output_overflow": "raise",
    "max_total_tokens": None,
    "max_cost_usd": None,
    "unpriced": "refuse",
    "prompt": None,
    "rate_limit": None,
    "send_schema": False,
    "strict": False,
    "repair": True,
}
"""What each option is when it is not given."""


_ON_FAIL = ("raise", "return")


class Guard(Generic[T]):
    """A reusable policy for LLM calls, applied as a decorator or inline.

    Build one with `guard`; see its documentation for the options.
    """

    def __init__(
        self,
        *,
        schema: Any = None,
        context: ContextOption | None = None,
        **options: Unpack[GuardOptions],
    ) -> None:
        unknown = sorted(set(options) - set(OPTION_DEFAULTS))
        if unknown:
            raise ConfigurationError(
                f"lg.guard got unknown option(s) {', '.join(unknown)}; it takes "
                f"schema, context, {', '.join(OPTION_DEFAULTS)}"
            )
        given: GuardOptions = {**OPTION_DEFAULTS, **options}
        strict = _flag("strict", given["strict"])  # read first: it changes the compiled schema
        self.schema: CompiledSchema | None = _compile(schema, context, strict)
        self.context = context
        self.retries = _count("retries", given["retries"])
        self.transient_retries = _count("transient_retries", given["transient_retries"])
        self.reask = reask = given["reask"]
        if reask is not None and not callable(reask):
            raise ConfigurationError(f"reask must be a callable (call, attempt) -> call: {reask!r}")
        self.retry_on = _exception_types(given["retry_on"])
        self.sleep = given["sleep"]
        for option in ("backoff", "sleep"):
            value = given[option]
            if value is not None and not callable(value):
                raise ConfigurationError(f"{option} must be a callable, not {value!r}")
        self.backoff = Backoff(given["backoff"])
        self.fallbacks = tuple(given["fallbacks"])
        for fallback in self.fallbacks:
            if not callable(fallback):
                raise ConfigurationError(f"fallbacks must be callables, not {fallback!r}")
        self.on_fail = on_fail = given["on_fail"]
        if on_fail not in _ON_FAIL:
            raise ConfigurationError(f"on_fail must be 'raise' or 'return', not {on_fail!r}")
        self.name = _optional_str("name", given["name"])
        self.model = model = _optional_str("model", given["model"])
        attributes: dict[str, Any] = {"model": model}
        attributes["provider"] = _optional_str("provider", given["provider"])
        tags = given["tags"]
        attributes["tags"] = (tags,) if isinstance(tags, str) else tuple(tags)
        metadata = given["metadata"]
        if metadata is not None and not isinstance(metadata, Mapping):
            raise ConfigurationError(f"metadata must be a dict, not {metadata!r}")
        attributes.update(metadata or {})
        self.attributes = {k: v for k, v in attributes.items() if v is not None and v != ()}
        self._plan_fallbacks = tuple((f, Parameters.of(f)) for f in self.fallbacks)
        limits = Limits.checked(
            max_input_tokens=given["max_input_tokens"],
            on_input_overflow=given["on_input_overflow"],
            max_output_tokens=given["max_output_tokens"],
            on_output_overflow=given["on_output_overflow"],
            max_total_tokens=given["max_total_tokens"],
            max_cost_usd=given["max_cost_usd"],
            unpriced=given["unpriced"],
        )
        self.limits = limits if limits != Limits() else None
        self.prompt = prompt = given["prompt"]
        if prompt is not None and not isinstance(prompt, Prompt):
            raise ConfigurationError(f"prompt must be an lg.Prompt, not {prompt!r}")
        self.send_schema: SendSchema = given["send_schema"]
        if not isinstance(self.send_schema, bool) and self.send_schema not in _SEND_MODES:
            raise ConfigurationError(
                "send_schema must be True, False, 'json_schema', 'tool' or 'prompt', "
                f"not {self.send_schema!r}"
            )
        if self.send_schema is not False and self.schema is None:
            raise ConfigurationError("send_schema needs a schema= to send")
        self._schema_request = _schema_request(self.schema, self.send_schema, attributes)
        self._fallback_send = tuple(
            self.sender(fallback, params) for fallback, params in self._plan_fallbacks
        )
        self.strict = strict
        self.repair = _flag("repair", given["repair"])
        self.rate_limit = rate_limit = given["rate_limit"]
        if rate_limit is not None and not isinstance(rate_limit, RateLimit):
            raise ConfigurationError(
                f"rate_limit must be an lg.rate_limit(...), not {rate_limit!r}"
            )

    # -- as a decorator ------------------------------------------------------------------

    @overload
    def __call__(  # type: ignore[overload-overlap]
        self: Guard[NoSchema], fn: Callable[P, R], /
    ) -> Callable[P, R]: ...

    @overload
    def __call__(self, fn: Callable[P, _AnyR], /) -> Callable[P, T]: ...

    @overload
    def __call__(self, fn: Callable[P, _AwaitableR], /) -> Callable[P, Awaitable[T]]: ...

    @overload
    def __call__(self, fn: Callable[P, R], /) -> Callable[P, T]: ...

    def __call__(self, fn: Callable[P, Any], /) -> Callable[P, Any]:
        """Guard every call of ``fn``."""
        target = unwrap_callable(fn)
        if not callable(target):
            raise ConfigurationError(f"@lg.guard needs a function, not {fn!r}")
        kind = call_kind(fn)
        if self.schema is not None and kind in (CallKind.GENERATOR, CallKind.ASYNC_GENERATOR):
            raise ConfigurationError(
                f"{target.__qualname__} is a generator: its answer arrives in pieces the "
                "caller reads, so it cannot be validated; return the stream instead"
            )
        params = Parameters.of(fn)
        self._check_reask(target, params)
        self._check_input_cap(target, params)
        return wrap(fn, GuardHandler(self, fn, params))

    def _check_input_cap(self, target: Callable[..., Any], params: Parameters) -> None:
        if self.limits is None or self.limits.max_input_tokens is None:
            return
        if not any(params.takes(name) for name in ("messages", "prompt", "input", "**")):
            raise ConfigurationError(
                f"{target.__qualname__} takes neither `messages`, `prompt` nor `input`, "
                "so max_input_tokens has no input to count"
            )

    def _check_reask(self, target: Callable[..., Any], params: Parameters) -> None:
        if self.schema is None or self.retries == 0 or self.reask is not None:
            return
        if not any(params.takes(name) for name in ("messages", "prompt", "input", "**")):
            raise ConfigurationError(
                f"{target.__qualname__} takes neither `messages`, `prompt` nor `input`, "
                "so a failed answer cannot be fed back: pass reask=, or retries=0"
            )

    def sender(self, fn: Callable[..., Any], params: Parameters) -> Sender | None:
        """How ``send_schema`` puts the schema into each call of ``fn``, if it does.

        Raises:
            ConfigurationError: ``fn`` cannot take the schema the way ``send_schema`` asks.
        """
        request = self._schema_request
        if request is None:
            return None
        target = unwrap_callable(fn)
        return request.sender(getattr(target, "__qualname__", None) or repr(target), params)

    def plan(self) -> Plan:
        """The flow's policy: schema, retries, limits, fallbacks (see `guarded_flow`)."""
        return Plan(
            schema=self.schema,
            retries=self.retries,
            transient_retries=self.transient_retries,
            is_transient=lambda exc: is_transient(exc, self.retry_on),
            wait=self.backoff,
            reask=self.reask or default_reask,
            fallbacks=self._plan_fallbacks,
            context=self._context_of,
            limits=self.limits,
            model=self.model,
            rate_limit=self.rate_limit,
            fallback_send=self._fallback_send,
            repair=self.repair,
        )

    def _context_of(self, call: Call) -> dict[str, Any] | None:
        context = self.context
        if context is None:
            return None
        if callable(context):
            return dict(context(*call.args, **call.kwargs))
        return dict(context)

    # -- partial objects while the answer streams ---------------------------------------

    @overload
    def stream(
        self, fn: Callable[P, _AnyR], /, *args: P.args, **kwargs: P.kwargs
    ) -> PartialStream[T]: ...

    @overload
    def stream(  # type: ignore[overload-overlap]
        self, fn: Callable[P, _AwaitableR], /, *args: P.args, **kwargs: P.kwargs
    ) -> AsyncPartials[T]: ...

    @overload
    def stream(  # type: ignore[overload-overlap]
        self, fn: Callable[P, _AsyncStreamR], /, *args: P.args, **kwargs: P.kwargs
    ) -> AsyncPartials[T]: ...

    @overload
    def stream(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Partials[T]: ...

    def stream(self, fn: Callable[P, Any], /, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Call ``fn(*args, **kwargs)`` under this guard, yielding the answer as it streams.

        ``fn`` returns a stream (OpenAI, Anthropic, or text pieces). Each item is a
        `Partial`: the answer so far, then a last one with ``final=True`` holding the
        validated value. A complete answer that fails the schema is re-asked as usual;
        the re-ask streams too, its first partial marked ``reset``. Use ``for`` when
        ``fn`` is sync, ``async for`` when it is async. See "Streaming partial objects"
        in ``docs/guard.md``.

        Raises:
            ConfigurationError: The guard has no schema, or ``fn`` cannot be re-asked.
        """
        target = unwrap_callable(fn)
        if not callable(target):
            raise ConfigurationError(f"stream() needs a function, not {fn!r}")
        if self.schema is None:
            raise ConfigurationError("stream() yields partial values of a schema: give schema=")
        params = Parameters.of(fn)
        self._check_reask(target, params)
        return partials(self, fn, args, kwargs, params)

    # -- inline ------------------------------------------------------------------------

    def attempts(
        self, messages: list[Any] | None = None, *, prompt: str | None = None
    ) -> Attempts[T]:
        """Attempts to run inline, for code that cannot be a decorated function.

        ``for attempt in guard.attempts(messages): with attempt:
        attempt.submit(client.create(messages=attempt.messages))``; after the loop,
        ``attempt.value`` is the validated value. ``async for`` works the same way.
        """
        if (messages is None) == (prompt is None):
            raise ConfigurationError("attempts() takes either messages or prompt=")
        if messages is not None and as_messages(messages) is None:
            kind = type(messages).__name__
            raise ConfigurationError(f"attempts() takes messages as a list, not a {kind}")
        given: object = prompt  # typed str, but callers without a type checker pass anything
        if given is not None and not isinstance(given, str):
            kind = type(given).__name__
            raise ConfigurationError(f"attempts() takes prompt= as a str, not a {kind}")
        return Attempts(self, messages, prompt)


# -- construction helpers ------------------------------------------------------------------


def _compile(schema: Any, context: Any, strict: bool = False) -> CompiledSchema | None:
    if context is not None and not (isinstance(context, Mapping) or callable(context)):
        raise ConfigurationError(f"context must be a dict or a callable, not {context!r}")
    if schema is None:
        if context is not None:
            raise ConfigurationError("context= reaches schema validators; give a schema too")
        return None
    if isinstance(schema, dict) and context is not None:
        raise ConfigurationError("context= reaches pydantic validators; a JSON Schema has none")
    from llmguard._guard.schema import compile_schema

    return compile_schema(schema, strict=strict)


def _schema_request(
    schema: CompiledSchema | None, send: SendSchema, attributes: Mapping[str, Any]
) -> SchemaRequest | None:
    if send is False or schema is None:
        return None
    from llmguard._guard.structured import SchemaRequest

    return SchemaRequest(
        schema, send, provider=attributes.get("provider"), model=attributes.get("model")
    )


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"{name} must be an integer >= 0, not {value!r}")
    return value


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, not {value!r}")
    return value


def _optional_str(name: str, value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigurationError(f"{name} must be a non-empty string, not {value!r}")
    return value


def _exception_types(value: object) -> tuple[type[BaseException], ...]:
    types = value if isinstance(value, tuple) else (value,)
    for item in types:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise ConfigurationError(f"retry_on must be exception classes, not {item!r}")
    return types


# -- the public constructor ------------------------------------------------------------------


@overload
def guard(fn: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def guard(
    *,
    schema: type[T],
    context: ContextOption | None = ...,
    **options: Unpack[GuardOptions],
) -> Guard[T]: ...


@overload
def guard(
    *, schema: None = ..., context: None = ..., **options: Unpack[GuardOptions]
) -> Guard[NoSchema]: ...


@overload
def guard(
    *, schema: Any, context: ContextOption | None = ..., **options: Unpack[GuardOptions]
) -> Guard[Any]: ...


def guard(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Guard LLM calls: validate answers against a schema, re-ask, retry, fall back.

    Use it bare (``@lg.guard``), with options (``@lg.guard(schema=Ticket, retries=2)``),
    or keep the returned `Guard` and apply it to many functions. Every call becomes
    an ``llm`` record with one ``attempt`` record per attempt.

    Args:
        fn: The function, when used bare.
        **options: ``schema`` (a pydantic model, any type pydantic validates, or a JSON
            Schema dict; the guarded function then returns the validated value),
            ``retries`` (corrective re-asks after the first attempt, default 1),
            ``context`` (a dict, or a callable of the call's arguments, passed to
            pydantic validators), ``reask`` (``(call, attempt) -> call``),
            ``retry_on`` (exception types to retry with backoff, besides rate limits,
            timeouts and 5xx), ``backoff`` (a tenacity wait strategy),
            ``transient_retries`` (default 3), ``fallbacks`` (functions tried in
            order when a function's retries are exhausted), ``model``, ``provider``,
            ``name``, ``tags``, ``metadata`` (recorded), ``on_fail`` (``"raise"`` or
            ``"return"`` a `Failure`), ``sleep`` (injected, for tests), ``prompt``
            (a `Prompt` that names every call's prompt on its record; without it, the
            prompt last rendered before or during the call does).
            Token and cost caps, checked before each attempt so that nothing over a cap
            is spent: ``max_input_tokens`` with ``on_input_overflow`` (``"raise"``
            `TokenLimitExceeded`, or ``"truncate"`` the oldest turns, never the system
            prompt or the last user turn), ``max_output_tokens`` (passed to the function
            as ``max_tokens``, ``max_completion_tokens`` or ``max_output_tokens``,
            whichever it takes, never above a value the caller gave; a stream from a
            function that takes none of them is cut at the cap by llmguard, which then
            raises or ends the stream as ``on_output_overflow`` says), and
            ``max_total_tokens`` / ``max_cost_usd`` for the call with all its retries;
            ``unpriced`` (``"refuse"`` by default, or ``"allow"``) decides whether
            ``max_cost_usd`` lets through a call whose model has no price.
            Every attempt is also charged to the open `budget` contexts.
            ``rate_limit`` (an `lg.rate_limit(...)`): each attempt first takes its
            tokens and one request from it, waiting for room (with ``sleep``) or
            raising `RateLimitExceeded`; the open ``with limit:`` blocks apply too.
            ``send_schema`` (``True``, or ``"json_schema"``, ``"tool"`` or ``"prompt"``
            to force one): the schema is passed to the function as its provider takes
            it -- OpenAI's strict ``response_format`` or ``text``, a forced tool, or an
            instruction added to ``messages`` / ``prompt`` -- never over the caller's own.
            ``strict=True`` validates in pydantic's strict mode (no coercion: ``"1"`` is
            not an ``int``; JSON Schema dicts are unaffected). ``repair=False`` re-asks
            near-JSON (trailing commas, single quotes...) instead of mending it with
            json-repair first.

    Raises:
        ConfigurationError: An option is invalid -- at decoration time, not at call.
    """
    policy: Guard[Any] = Guard(**options)
    return policy if fn is None else policy(fn)
