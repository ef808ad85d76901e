"""The values llmguard's errors carry: one attempt of a guarded call, an agent run's state."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from llmguard._core.field_errors import FieldError
from llmguard._core.records import Usage
from llmguard._core.reply import Reply, ToolCall

__all__ = ["Attempt", "Outcome", "RunState"]

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
            ``"embedded"``, ``"text"``, ``"tool_call"``, ``"tool_calls"`` (several calls
            read as a list's items), or ``"json_repair"`` when the ``json-repair``
            library mended near-JSON.
        stage: Where a repaired value was found: ``"strict"`` (the whole answer),
            ``"fence"`` or ``"embedded"``; ``None`` when ``repair`` says it already.
        note: What else the record should say about how the value was chosen, such as
            an answer holding several different valid values (the first is used).
        usage: Tokens this attempt used, when reported.
        latency_ms: How long the function took.
        error: The exception the function raised, for ``transient_error`` and ``error``.
        reply: The normalized reply; ``response`` is the raw one.
        value: The validated value, for an ``"ok"`` attempt under a schema.
        answer_index: Which of the reply's tool calls the schema read as the answer,
            when there were several (the one named for the schema); ``None`` when the
            calls were read as a list's items, or there was no choice to make.
    """

    number: int
    function: str
    outcome: Outcome
    text: str | None = None
    errors: tuple[FieldError, ...] = ()
    repair: str | None = None
    stage: str | None = None
    note: str | None = None
    usage: Usage | None = None
    latency_ms: float = 0.0
    error: BaseException | None = field(default=None, repr=False)
    reply: Reply | None = field(default=None, repr=False)
    response: Any = field(default=None, repr=False)
    value: Any = field(default=None, repr=False)
    answer_index: int | None = field(default=None, repr=False)

    @property
    def tool_call(self) -> ToolCall | None:
        """The tool call whose arguments were the answer, if the model answered with one:
        the one at `answer_index`, else the first."""
        reply = self.reply
        if reply is None or not reply.tool_calls:
            return None
        index = self.answer_index
        calls = reply.tool_calls
        return calls[index] if index is not None and 0 <= index < len(calls) else calls[0]

    def summary(self) -> dict[str, Any]:
        """What the attempt record holds about this attempt."""
        data: dict[str, Any] = {"number": self.number, "outcome": self.outcome}
        data["function"] = self.function
        if self.outcome == "ok" and (self.value is not None or self.repair is not None):
            data["stage"] = self.stage or self.repair or "strict"
        if self.repair is not None:
            data["repair"] = self.repair
        if self.note is not None:
            data["note"] = self.note
        if self.errors:
            # What dataclasses.asdict gives for a FieldError (its strings, in field
            # order), without its deep copy.
            data["errors"] = [
                {"path": e.path, "message": e.message, "value": e.value}
                if type(e) is FieldError
                else dataclasses.asdict(e)
                for e in self.errors
            ]
        return data


@dataclass(frozen=True)
class RunState:
    """What a run had done when it stopped, or so far.

    ``tokens`` and ``cost_usd`` are what its guarded calls used; ``output`` the last
    value given to `Run.set_output` (or the function's result); ``stop_reason`` is
    ``None`` while running, ``"completed"``, ``"error"``, or the limit that stopped it
    (``"max_steps"``, ``"max_tool_calls"``, ``"max_repeats"``, ``"timeout_s"``,
    ``"max_tokens"``...).
    """

    name: str
    steps: int
    tool_calls: int
    tokens: int
    cost_usd: float
    output: Any
    stop_reason: str | None
    trace_id: str | None
