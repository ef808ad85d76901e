"""What a guarded call's attempts were, and what a call that failed returns instead."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from llmguard._core.records import Usage
from llmguard.adapters import Reply, ToolCall

if TYPE_CHECKING:
    from llmguard._core.field_errors import FieldError
    from llmguard.exceptions import GuardError

__all__ = ["Attempt", "Failure", "Outcome", "sum_usage"]

Outcome = Literal["ok", "invalid", "transient_error", "truncated", "refused", "error"]


# Not frozen: a frozen dataclass pays an ``object.__setattr__`` call per field, and an
# attempt is built on every guarded call (1.6 µs frozen, 0.5 µs not).
@dataclass(slots=True, kw_only=True)
class Attempt:
    """What happened in one attempt of a guarded call; a value, to be read, not changed.

    Attributes:
        number: 1 for the first attempt, counted across fallbacks.
        function: The qualified name of the function called.
        outcome: ``"ok"``, ``"invalid"`` (the answer failed the schema),
            ``"transient_error"``, ``"truncated"``, ``"refused"`` or ``"error"``.
        text: The answer as text (a tool call's arguments as JSON), if any.
        errors: Why the answer failed the schema.
        repair: How the value was found: ``None`` (strict JSON), ``"fence"``,
            ``"embedded"``, ``"text"`` or ``"tool_call"``.
        usage: Tokens this attempt used, when reported.
        latency_ms: How long the function took.
        error: The exception the function raised, for ``transient_error`` and ``error``.
        reply: The normalized reply; ``response`` is the raw one.
        value: The validated value, for an ``"ok"`` attempt under a schema.
    """

    number: int
    function: str
    outcome: Outcome
    text: str | None = None
    errors: tuple[FieldError, ...] = ()
    repair: str | None = None
    usage: Usage | None = None
    latency_ms: float = 0.0
    error: BaseException | None = field(default=None, repr=False)
    reply: Reply | None = field(default=None, repr=False)
    response: Any = field(default=None, repr=False)
    value: Any = field(default=None, repr=False)

    @property
    def tool_call(self) -> ToolCall | None:
        """The tool call whose arguments were the answer, if the model answered with one."""
        reply = self.reply
        return reply.tool_calls[0] if reply is not None and reply.tool_calls else None

    def summary(self) -> dict[str, Any]:
        """What the attempt record holds about this attempt."""
        data: dict[str, Any] = {"number": self.number, "outcome": self.outcome}
        data["function"] = self.function
        if self.outcome == "ok" and (self.value is not None or self.repair is not None):
            data["stage"] = self.repair or "strict"
        if self.repair is not None:
            data["repair"] = self.repair
        if self.errors:
            data["errors"] = [dataclasses.asdict(e) for e in self.errors]
        return data


@dataclass(frozen=True, slots=True)
class Failure:
    """Returned instead of raising when a guard has ``on_fail="return"``; always false.

    Attributes:
        error: The exception that would have been raised.
        attempts: Every attempt, in order.
        usage: Tokens used by all attempts together.
    """

    error: GuardError
    attempts: tuple[Attempt, ...]
    usage: Usage | None

    def __bool__(self) -> bool:
        return False


def sum_usage(a: Usage | None, b: Usage | None) -> Usage | None:
    """The usage of two attempts together; a count either lacks is taken from the other."""
    if a is None or b is None:
        return a or b

    def add(x: int | None, y: int | None) -> int | None:
        return None if x is None and y is None else (x or 0) + (y or 0)

    return Usage(
        input=add(a.input, b.input),
        output=add(a.output, b.output),
        cached_input=add(a.cached_input, b.cached_input),
        reasoning=add(a.reasoning, b.reasoning),
        total=add(a.total, b.total),
        estimated=a.estimated or b.estimated,
    )
