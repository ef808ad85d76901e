"""Errors raised by llmguard.

llmguard raises two kinds of errors into an application: misuse, found when a decorator
or ``configure`` is given something it cannot work with, and its own run-time decisions
about a call -- the answer never fit the schema, it was cut short, the model refused.
Failures of llmguard's own machinery -- a sink, a redactor, a serializer -- are never
raised; they are counted and reported (see `llmguard.stats`), except under
``configure(strict=True)``, meant for tests, where they propagate unchanged. Errors of
the guarded function itself (a bad request, a bug) propagate unchanged too.

The tree::

    LLMGuardError
    ├── ConfigurationError         misuse, raised at decoration or configure() time
    │   └── BadReturn              a guarded function returned no answer at all (None),
    │                              found at its first return, never retried
    ├── GuardError                 a guarded call gave no acceptable answer
    │   ├── SchemaViolation        every attempt failed the schema
    │   ├── OutputTruncated        the answer was cut at the output token limit
    │   ├── ProviderError          the provider reported a failure inside a response it
    │   │                          had started (an error event in a stream)
    │   └── Refused                the model refused to answer
    ├── LimitExceeded              a limit would be crossed; nothing more was spent
    │   ├── TokenLimitExceeded     a call's token cap (input, output or total)
    │   ├── BudgetExceeded         a budget's tokens or dollars
    │   ├── StepLimitExceeded      an agent run's max_steps
    │   ├── ToolCallLimitExceeded  an agent run's max_tool_calls
    │   ├── LoopDetected           an agent repeated a tool call or made no progress
    │   ├── TimeLimitExceeded      an agent run's deadline (timeout_s)
    │   └── RateLimitExceeded      a rate limit could not admit the call in time
    ├── BudgetUnavailable          a shared store could not be reached; the call was
    │                              refused (``on_unavailable="closed"``)
    ├── ReplayError                a record cannot be replayed faithfully, or does not
    │                              fit the function (raised before anything runs)
    ├── PartiallyDelivered         raised by a sink's emit() that wrote part of a batch,
    │                              for delivery to count; never raised into the application
    └── ToolError                  a tool call could not be made or gave a bad result
        ├── ToolInputError         the arguments are invalid, or no tool has that name
        ├── ToolOutputError        the result did not match the tool's output schema
        └── ToolDenied             a tool that requires approval was not approved

Every `GuardError` carries the attempts made, the tokens they used together and the
id of the call's trace; a `ProviderError` also carries the provider's error ``type``,
``code`` and ``message``; every `LimitExceeded` carries the limit, what was used, what
the refused step asked for, and the trace id -- and, when an agent run stopped on it,
the run's partial state (``.state``, a `RunState`). `BudgetUnavailable` carries the
store, its address and key, and the error that made it unreachable. Every `ToolError`
carries the tool's name and each problem found, as `FieldError` values; its message
lists them in plain text that can be handed back to the model.
"""

from __future__ import annotations

from typing import Any

from llmguard._core.field_errors import FieldError, format_errors
from llmguard._core.outcomes import Attempt, RunState
from llmguard._core.records import Usage

__all__ = [
    "BadReturn",
    "BudgetExceeded",
    "BudgetUnavailable",
    "ConfigurationError",
    "GuardError",
    "LLMGuardError",
    "LimitExceeded",
    "LoopDetected",
    "OutputTruncated",
    "PartiallyDelivered",
    "ProviderError",
    "RateLimitExceeded",
    "ReplayError",
    "Refused",
    "SchemaViolation",
    "StepLimitExceeded",
    "TimeLimitExceeded",
    "TokenLimitExceeded",
    "ToolCallLimitExceeded",
    "ToolDenied",
    "ToolError",
    "ToolInputError",
    "ToolOutputError",
]


class LLMGuardError(Exception):
    """Base class of every error llmguard raises on purpose.

    Every one pickles with its message and attributes (a worker process of a
    ``ProcessPoolExecutor`` can raise it to its parent), whatever its constructor takes.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        # The default calls the class with ``args``, which keyword-only constructors
        # refuse: the parent saw a broken pool instead of the error.
        return (_rebuilt, (type(self), self.args, self.__dict__))


def _rebuilt(
    cls: type[LLMGuardError], args: tuple[Any, ...], state: dict[str, Any]
) -> LLMGuardError:
    """An error unpickled: its arguments and attributes, its constructor not called."""
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ConfigurationError(LLMGuardError, ValueError):
    """An option, decorator argument or environment setting cannot be used.

    Raised when the misuse is found -- at decoration or ``configure()`` time -- never
    in the middle of a call. The message names the offending option and value.
    """


class BadReturn(ConfigurationError):
    """A guarded function returned something that cannot be a model's answer.

    A programming error, not a bad answer: ``None`` (a forgotten ``return``), the
    `Failure` of another guard with ``on_fail="return"``, or a coroutine a sync
    function forgot to await. Raised at the attempt that returned it -- no re-ask,
    transient retry or fallback is spent on it -- and the call's records are written.

    Attributes:
        function: The qualified name of the function.
        returned: What it returned, in words (``"None"``, ``"a coroutine"``...).
    """

    def __init__(self, function: str, returned: str, hint: str) -> None:
        super().__init__(f"{function} returned {returned}, not a model's answer: {hint}")
        self.function = function
        self.returned = returned


class ReplayError(LLMGuardError, ValueError):
    """A record that cannot be replayed faithfully, or that does not fit the function.

    Raised before anything runs: the record is not a guarded call's ``llm`` record, its
    input was not captured, was cut to fit ``max_content_bytes`` or was redacted, or
    the recorded arguments do not bind to the function's signature.

    Attributes:
        span_id: The record's span id.
    """

    def __init__(self, span_id: str, message: str) -> None:
        super().__init__(message)
        self.span_id = span_id


class PartiallyDelivered(LLMGuardError):
    """Raised by a sink's ``emit(batch)`` that wrote some of the batch and failed on the
    rest: ``delivered`` of its records count as delivered, the others as dropped.

    Any other exception from ``emit`` counts the whole batch as dropped. Raise it
    ``from`` the error that stopped the sink: the warning and the ``internal`` record
    name that error. llmguard catches it; it never reaches the application.

    Attributes:
        delivered: How many of the batch's records the sink wrote (held to ``0`` ..
            the batch's size).
    """

    def __init__(self, message: str = "", *, delivered: int) -> None:
        if isinstance(delivered, bool) or not isinstance(delivered, int):
            raise TypeError(f"delivered must be an int, not {delivered!r}")
        super().__init__(message or f"{delivered} of the batch's records were delivered")
        self.delivered = delivered


class GuardError(LLMGuardError):
    """A guarded call produced no acceptable answer.

    Attributes:
        attempts: Every attempt, in order, with its raw answer, errors and usage.
        usage: The tokens all attempts used together (``None`` if none was reported).
        trace_id: The trace of the call, to find its records.
    """

    def __init__(self, attempts: tuple[Attempt, ...], usage: Usage | None) -> None:
        super().__init__(self._describe(attempts))
        self.attempts = attempts
        self.usage = usage
        self.trace_id: str | None = None

    @property
    def last_attempt(self) -> Attempt:
        """The attempt that ended the call."""
        return self.attempts[-1]

    @staticmethod
    def _describe(attempts: tuple[Attempt, ...]) -> str:
        return f"guarded call failed after {len(attempts)} attempt(s)"


class SchemaViolation(GuardError):
    """No attempt -- corrective retries and fallbacks included -- matched the schema."""

    @staticmethod
    def _describe(attempts: tuple[Attempt, ...]) -> str:
        last = attempts[-1] if attempts else None
        detail = f"; the last answer's errors:\n{format_errors(last.errors)}" if last else ""
        return f"no answer matched the schema in {len(attempts)} attempt(s){detail}"


class OutputTruncated(GuardError):
    """The answer stopped at the output token limit (finish reason ``length``).

    Not retried blindly: asking again with the same limit tends to be cut again.
    """

    @staticmethod
    def _describe(attempts: tuple[Attempt, ...]) -> str:
        return "the answer was cut at the output token limit (finish reason 'length')"


class ProviderError(GuardError):
    """The provider reported a failure inside a response it had started.

    A stream that began with a 200 and then said the server failed -- a Responses API
    ``error`` event or ``response.failed`` -- which the SDK hands over as events instead
    of raising. A transient one (a server error, a rate limit, an overload, a timeout) is
    retried unchanged, as an HTTP 5xx is; this is raised when those retries run out, or
    at once for any other failure. The failure is never written into a prompt.

    Attributes:
        type: The error's type as the provider named it, when it did.
        code: The error's code (``"server_error"``...), when it gave one.
        message: The provider's description of the failure, when it gave one.
    """

    def __init__(
        self,
        attempts: tuple[Attempt, ...],
        usage: Usage | None,
        *,
        type: str | None = None,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        super().__init__(attempts, usage)
        self.type = type
        self.code = code
        self.message = message
        said = ": ".join(part for part in (type or code, message) if part)
        self.args = (f"the provider failed inside its response ({said or 'no detail given'})",)


class Refused(GuardError):
    """The model refused to answer."""

    @property
    def refusal(self) -> str | None:
        """The model's explanation, when it gave one."""
        reply = self.last_attempt.reply
        return None if reply is None else reply.refusal

    @staticmethod
    def _describe(attempts: tuple[Attempt, ...]) -> str:
        reply = attempts[-1].reply if attempts else None
        reason = reply.refusal if reply is not None and reply.refusal else "no reason given"
        return f"the model refused to answer: {reason}"


class LimitExceeded(LLMGuardError):
    """A limit would be crossed, so the step that would cross it was not taken.

    Attributes:
        limit: Which limit: ``"max_input_tokens"``, ``"max_tokens"``, ``"max_cost_usd"``...
        maximum: The limit's value.
        used: How much was used before the refused step.
        requested: What the refused step needed (tokens or dollars); ``None`` if unknown.
        name: The budget's or the guarded call's name, when it has one.
        trace_id: The trace the refused step belonged to.
        state: The partial state of the agent run the limit stopped, if one did.
    """

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        maximum: float,
        used: float,
        requested: float | None = None,
        name: str | None = None,
        trace_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.limit = limit
        self.maximum = maximum
        self.used = used
        self.requested = requested
        self.name = name
        self.trace_id = trace_id
        self.state: RunState | None = None


class TokenLimitExceeded(LimitExceeded):
    """A call's own token cap (``max_input_tokens``, ``max_total_tokens``...) was reached."""


class BudgetExceeded(LimitExceeded):
    """A call would cross a budget's tokens or dollars; it was refused before being made."""


class StepLimitExceeded(LimitExceeded):
    """An agent run already took ``max_steps`` steps; the next one was not started."""


class ToolCallLimitExceeded(LimitExceeded):
    """An agent run already made ``max_tool_calls`` tool calls; the next was not made."""


class TimeLimitExceeded(LimitExceeded):
    """An agent run passed its deadline (``timeout_s``); ``used`` is the seconds elapsed."""


class LoopDetected(LimitExceeded):
    """An agent is going round in circles.

    Either it called one tool with canonically equal arguments more than
    ``max_repeats`` times, or its `Run.step` state stayed the same for ``max_repeats``
    consecutive steps (then ``tool`` is ``None`` and ``arguments`` is the state).

    Attributes:
        tool: The repeated tool's name, or ``None`` for an unchanged state.
        arguments: The repeated arguments, or the unchanged state.
        count: How many times the call (or state) was seen, the refused one included.
    """

    def __init__(
        self,
        message: str,
        *,
        tool: str | None,
        arguments: Any,
        count: int,
        limit: str = "max_repeats",
        maximum: float,
        used: float,
        requested: float | None = None,
        name: str | None = None,
        trace_id: str | None = None,
    ) -> None:
        super().__init__(
            message,
            limit=limit,
            maximum=maximum,
            used=used,
            requested=requested,
            name=name,
            trace_id=trace_id,
        )
        self.tool = tool
        self.arguments = arguments
        self.count = count


class RateLimitExceeded(LimitExceeded):
    """A rate limit had no room for the call, and waiting was not allowed or too long.

    ``limit`` is ``"tokens_per_minute"`` or ``"requests_per_minute"``, ``maximum`` its
    value, ``used`` what the last minute already took of it, ``requested`` what the
    call asked for.

    Attributes:
        retry_after: Seconds until there would have been room, when the call can ever
            fit; ``None`` when it asks for more than the whole per-minute limit.
    """

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        maximum: float,
        used: float,
        requested: float | None = None,
        name: str | None = None,
        trace_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message,
            limit=limit,
            maximum=maximum,
            used=used,
            requested=requested,
            name=name,
            trace_id=trace_id,
        )
        self.retry_after = retry_after


class BudgetUnavailable(LLMGuardError):
    """A shared budget or rate limit could not be checked, so the call was not made.

    Raised by a store configured with ``on_unavailable="closed"`` when its server
    cannot be reached; the original error is also the exception's ``__cause__``.

    Attributes:
        store: The store's description, e.g. ``"RedisBudgetStore"``.
        url: Where the store lives, without any password.
        key: The store's key (the name the budget is shared under).
        cause: The error that made the store unreachable.
    """

    def __init__(
        self, message: str, *, store: str, url: str | None, key: str, cause: BaseException
    ) -> None:
        super().__init__(message)
        self.store = store
        self.url = url
        self.key = key
        self.cause = cause


class ToolError(LLMGuardError):
    """A tool call could not be made, or its result was not acceptable.

    Attributes:
        tool: The tool's name (the name asked for, when no tool has it).
        errors: Each problem: where (``$.city``), what, and the value found.
    """

    def __init__(
        self, tool: str, errors: tuple[FieldError, ...] = (), *, message: str | None = None
    ) -> None:
        super().__init__(message or self._describe(tool, errors))
        self.tool = tool
        self.errors = errors

    @staticmethod
    def _describe(tool: str, errors: tuple[FieldError, ...]) -> str:
        return f"tool {tool!r} failed:\n{format_errors(errors)}"


class ToolInputError(ToolError):
    """A tool was called with invalid arguments, unparsable JSON, or an unknown name.

    The tool's function was not called. The message lists each problem on its own
    line, ``- $.days: Input should be a valid integer (got "many")``, so it can be sent
    back to the model as the tool's answer.
    """

    @staticmethod
    def _describe(tool: str, errors: tuple[FieldError, ...]) -> str:
        return f"invalid arguments for tool {tool!r}:\n{format_errors(errors)}"


class ToolOutputError(ToolError):
    """A tool's result did not match its ``output_schema``."""

    @staticmethod
    def _describe(tool: str, errors: tuple[FieldError, ...]) -> str:
        return f"tool {tool!r} returned a result that does not match its output schema:\n" + (
            format_errors(errors)
        )


class ToolDenied(ToolError):
    """A tool that ``requires_approval`` was not approved; its function was not called."""
