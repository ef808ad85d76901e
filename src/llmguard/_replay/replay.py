"""Replaying a recorded guarded call against today's function, and what changed.

Three steps, in this order below: check that a record can be replayed faithfully and
bind its captured input to the function's signature (`check_record`, `prepare`); run
the function under a guard like the recorded one (`replay`, `areplay`); and set the
recorded outcome beside the new one (`Replay`, `ReplayOutcome`).
"""

from __future__ import annotations

import copy
import inspect
import json
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmguard import pricing
from llmguard._core.content import snapshot
from llmguard._core.records import Record, Status, Usage, sum_usage
from llmguard._core.wrap import CallKind, call_kind, unwrap_callable
from llmguard._delivery.pipeline import capturing
from llmguard._guard.flow import Failure
from llmguard._tracing.spans import error_type_name, span
from llmguard.exceptions import LimitExceeded, ReplayError
from llmguard.redact import METADATA_KEY

__all__ = ["Replay", "ReplayError", "ReplayOutcome", "areplay", "check_record", "replay"]


def check_record(record: Record, *, allow_redacted: bool = False) -> None:
    """Check that ``record`` holds a guarded call's input, complete and unredacted.

    Raises:
        ReplayError: It does not; the message says why and what to do instead.
    """
    span_id = record.span_id
    if record.kind == "attempt":
        number = (record.attempt or {}).get("number", "?")
        raise ReplayError(
            span_id,
            f"span {span_id} is attempt {number} of a guarded call; replay the call "
            f"itself, span {record.parent_id}",
        )
    if record.kind != "llm":
        raise ReplayError(
            span_id,
            f"span {span_id} is a {record.kind} record; only the llm record of a "
            "guarded call can be replayed",
        )
    if record.input is None:
        why = (
            "a redactor failed, so its content was dropped"
            if "llmguard.redaction" in record.metadata
            else "content was not captured (capture_content=False)"
        )
        raise ReplayError(span_id, f"span {span_id} has no recorded input: {why}")
    digest = (record.truncated or {}).get("input")
    if digest is not None:
        raise ReplayError(
            span_id,
            f"span {span_id}'s input was cut to fit max_content_bytes (it had "
            f"{digest.bytes} bytes); only a complete input can be replayed",
        )
    redacted = record.metadata.get(METADATA_KEY)
    if redacted and not allow_redacted:
        kinds = ", ".join(sorted(redacted)) if isinstance(redacted, Mapping) else str(redacted)
        raise ReplayError(
            span_id,
            f"span {span_id}'s content was redacted ({kinds}), so its input may differ "
            "from what was sent; allow redacted records to replay it as recorded",
        )


def prepare(
    record: Record, fn: Callable[..., Any], allow_redacted: bool
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if not callable(fn):
        raise TypeError(f"replay needs a function to run, not {fn!r}")
    check_record(record, allow_redacted=allow_redacted)
    try:
        signature: inspect.Signature | None = inspect.signature(fn)
    except (TypeError, ValueError):
        signature = None
    value = copy.deepcopy(record.input)  # the function may change what it is given
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}
    if isinstance(value, list) and _is_messages(value, signature):
        args, kwargs = _messages_arguments(record, fn, value, signature)
    elif isinstance(value, list):
        args = tuple(value)
    elif isinstance(value, dict):
        kwargs = value
    else:
        raise ReplayError(
            record.span_id,
            f"span {record.span_id}'s input is a {type(value).__name__}, not the "
            "messages or the arguments of a call",
        )
    if signature is not None:
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise ReplayError(
                record.span_id,
                f"the input of span {record.span_id} does not fit "
                f"{function_name(fn)}{signature}: {exc}",
            ) from None
    return args, kwargs


def _is_messages(value: list[Any], signature: inspect.Signature | None) -> bool:
    # The guard records a call's messages list when it has one, else its arguments; a
    # list of chat turns can only be the former.
    if not value:
        return False
    if signature is not None and "messages" in signature.parameters:
        return True
    return all(isinstance(item, Mapping) and "role" in item for item in value)


def _messages_arguments(
    record: Record,
    fn: Callable[..., Any],
    messages: list[Any],
    signature: inspect.Signature | None,
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if signature is None:
        return (), {"messages": messages}
    parameters = list(signature.parameters.values())
    param = signature.parameters.get("messages")
    if param is None:
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
            return (), {"messages": messages}
        raise ReplayError(
            record.span_id,
            f"span {record.span_id} recorded a messages list, but {function_name(fn)} takes "
            "no `messages` parameter",
        )
    if param.kind is inspect.Parameter.POSITIONAL_ONLY:
        if parameters[0] is not param:
            raise ReplayError(
                record.span_id,
                f"{function_name(fn)} takes `messages` positionally after other arguments, "
                "which the record does not hold",
            )
        return (messages,), {}
    return (), {"messages": messages}


def function_name(fn: Any) -> str:
    """The qualified name messages use for ``fn`` (through any decorator)."""
    target = unwrap_callable(fn)
    return str(getattr(target, "__qualname__", None) or type(target).__qualname__)


# -- What a replay reports: the recorded and the new outcome of a call, and the two side by side.


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayOutcome:
    """How one run of a call ended: the recorded one or the replayed one.

    Attributes:
        status: ``"ok"``, ``"error"`` or ``"limit"``.
        value: What the call returned, as JSON-compatible data (the validated value
            under a schema); ``None`` when it failed.
        error_type: The qualified name of the exception that ended the call.
        error_message: Its message.
        usage: Tokens used by every attempt together, when reported.
        cost_usd: What the attempts cost, when priced: the cost a record holds, else its
            usage priced as the model was priced when the call started
            (`pricing.record_cost`) -- a recorded call at its own time, the new run now.
        duration_ms: How long the call took.
        attempts: How many attempts the guard made (``None`` without a guard).
        model: The model, when known.
    """

    status: Status
    value: Any = None
    error_type: str | None = None
    error_message: str | None = None
    usage: Usage | None = None
    cost_usd: float | None = None
    duration_ms: float | None = None
    attempts: int | None = None
    model: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the call gave an answer."""
        return self.status == "ok"

    @classmethod
    def of_record(cls, record: Record) -> ReplayOutcome:
        """The outcome an ``llm`` record describes.

        A record without a cost (written before its model had a price, say) is priced
        at the time it started, never at today's prices.
        """
        count = (record.attempt or {}).get("count")
        return cls(
            status=record.status,
            value=record.output,
            error_type=record.error_type,
            error_message=record.error_message,
            usage=record.usage,
            cost_usd=_cost(record),
            duration_ms=record.duration_ms,
            attempts=count if isinstance(count, int) else None,
            model=record.model,
        )

    def as_dict(self) -> dict[str, Any]:
        """The outcome as JSON-ready data."""
        usage = self.usage
        return {
            "status": self.status,
            "value": self.value,
            "error_type": self.error_type,
            "error_message": self.error_message,
            "usage": None
            if usage is None
            else {k: getattr(usage, k) for k in ("input", "output", "total", "estimated")},
            "cost_usd": self.cost_usd,
            "duration_ms": self.duration_ms,
            "attempts": self.attempts,
            "model": self.model,
        }


# The outcome fields that decide whether a replay changed anything; usage, cost and
# timing differ between any two runs and are shown, not compared.
_COMPARED = ("status", "error_type", "value")


@dataclass(frozen=True, slots=True, kw_only=True)
class Replay:
    """A recorded call and the same input run again, side by side.

    Attributes:
        record: The replayed ``llm`` record.
        old: The recorded outcome.
        new: The outcome of the new run.
        function: The qualified name of the function that ran.
        result: What the function returned (``None`` when it raised).
        error: What it raised, if anything.
        records: The records the new run emitted, the ``llmguard.replay`` span last.
    """

    record: Record
    old: ReplayOutcome
    new: ReplayOutcome
    function: str
    result: Any = field(default=None, repr=False)
    error: Exception | None = field(default=None, repr=False)
    records: tuple[Record, ...] = field(default=(), repr=False)

    @property
    def differences(self) -> tuple[str, ...]:
        """Which of ``status``, ``error_type`` and ``value`` differ between the runs."""
        return tuple(
            name for name in _COMPARED if getattr(self.old, name) != getattr(self.new, name)
        )

    @property
    def changed(self) -> bool:
        """Whether the new run ended differently: another status, error type or value."""
        return bool(self.differences)

    def as_dict(self) -> dict[str, Any]:
        """The replay as JSON-ready data."""
        return {
            "span_id": self.record.span_id,
            "trace_id": self.record.trace_id,
            "name": self.record.name,
            "function": self.function,
            "changed": self.changed,
            "differences": list(self.differences),
            "old": self.old.as_dict(),
            "new": self.new.as_dict(),
        }

    def side_by_side(self, width: int = 100) -> str:
        """The two outcomes as two columns; rows that decide `changed` marked ``*``.

        Long values and messages wrap inside their column; nothing is cut.

        Args:
            width: The width of the text, at least 60 characters.
        """
        column = (max(width, 60) - _LABEL - 4) // 2
        old, new = self.old, self.new
        rows = [
            ("status", old.status, new.status, "status"),
            ("error", _error_text(old), _error_text(new), "error_type"),
            ("value", _value_text(old), _value_text(new), "value"),
            ("attempts", _text(old.attempts), _text(new.attempts), None),
            ("tokens", _usage_text(old.usage), _usage_text(new.usage), None),
            ("cost", _money(old.cost_usd), _money(new.cost_usd), None),
            ("duration", _duration(old.duration_ms), _duration(new.duration_ms), None),
            ("model", _text(old.model), _text(new.model), None),
        ]
        differences = self.differences
        lines = [
            f"replay of span {self.record.span_id} ({self.record.name}, "
            f"trace {self.record.trace_id}) against {self.function}",
            "",
            f"{'':<{_LABEL}}  {'recorded':<{column}}  now".rstrip(),
        ]
        for label, left, right, compared in rows:
            mark = "*" if compared is not None and compared in differences else " "
            lefts, rights = _wrap(left, column), _wrap(right, column)
            for index in range(max(len(lefts), len(rights))):
                head = f"{label:<{_LABEL - 1}}{mark}" if index == 0 else " " * _LABEL
                a = lefts[index] if index < len(lefts) else ""
                b = rights[index] if index < len(rights) else ""
                lines.append(f"{head}  {a:<{column}}  {b}".rstrip())
        lines.append("")
        if differences:
            lines.append(f"changed: {', '.join(_LABELS[name] for name in differences)}")
        else:
            lines.append("unchanged")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.side_by_side()


_LABEL = 9
_LABELS = {"status": "status", "error_type": "error", "value": "value"}


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        lines.extend(
            textwrap.wrap(
                paragraph,
                width,
                subsequent_indent="  ",
                break_long_words=True,
                break_on_hyphens=False,
                drop_whitespace=True,
            )
            or [""]
        )
    return lines


def _text(value: object) -> str:
    return "-" if value is None else str(value)


def _error_text(outcome: ReplayOutcome) -> str:
    if outcome.error_type is None:
        return "-" if outcome.error_message is None else outcome.error_message
    if not outcome.error_message:
        return outcome.error_type
    return f"{outcome.error_type}: {outcome.error_message}"


def _value_text(outcome: ReplayOutcome) -> str:
    if outcome.value is None:
        return "-"
    try:
        return json.dumps(outcome.value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(outcome.value)


def _usage_text(usage: Usage | None) -> str:
    if usage is None or (usage.input is None and usage.output is None):
        return "-"
    estimated = " (estimated)" if usage.estimated else ""
    return f"{usage.input or 0} in / {usage.output or 0} out{estimated}"


def _money(usd: float | None) -> str:
    if usd is None:
        return "-"
    return f"${usd:.6f}" if usd < 0.01 else f"${usd:.4f}"


def _duration(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.2f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


# -- ``lg.replay``: run a recorded guarded call's input again, against today's code.

_SPAN_NAME = "llmguard.replay"
_ASYNC_KINDS = (CallKind.ASYNC, CallKind.ASYNC_GENERATOR)


def replay(record: Record, fn: Callable[..., Any], /, *, allow_redacted: bool = False) -> Replay:
    """Run a recorded guarded call's input through ``fn`` and compare the outcomes.

    ``fn`` is usually the guarded function as the code defines it today; an
    undecorated function works too (its usage is then what the guarded calls it makes
    report). The arguments are rebuilt from the record's input: a messages list goes
    to ``fn``'s ``messages`` parameter, recorded keyword or positional arguments are
    passed as they were. Whatever ``fn`` raises becomes the new outcome; a stream it
    returns is read to its end.

    Args:
        record: The ``llm`` record of a guarded call, with its input captured.
        fn: A sync function or generator function; use `areplay` for async ones.
        allow_redacted: Replay a record whose content a redactor changed, with the
            redacted text (``[email]`` and the like) standing in for what was sent.

    Raises:
        ReplayError: The record cannot be replayed, or does not fit ``fn``.
        TypeError: ``fn`` is not callable, or is a coroutine function.
    """
    args, kwargs = prepare(record, fn, allow_redacted)
    if call_kind(fn) in _ASYNC_KINDS:
        raise TypeError(f"{function_name(fn)} is async: use `await lg.areplay(record, fn)`")
    with capturing() as captured, span(_SPAN_NAME, **_marks(record)) as opened:
        started = time.perf_counter()
        result: Any = None
        error: Exception | None = None
        try:
            result = fn(*args, **kwargs)
            if isinstance(result, Iterator):
                result = list(result)
        except Exception as exc:
            error = exc
        elapsed = (time.perf_counter() - started) * 1000
        if inspect.isawaitable(result):
            _discard(result)
            raise TypeError(
                f"{function_name(fn)} returned an awaitable: use `await lg.areplay(...)`"
            )
    return _finish(record, fn, opened.span_id, captured, result, error, elapsed)


async def areplay(
    record: Record, fn: Callable[..., Any], /, *, allow_redacted: bool = False
) -> Replay:
    """`replay` for any function: coroutine functions are awaited, async streams read.

    Args:
        record: The ``llm`` record of a guarded call, with its input captured.
        fn: The function to run, sync or async.
        allow_redacted: See `replay`.

    Raises:
        ReplayError: The record cannot be replayed, or does not fit ``fn``.
        TypeError: ``fn`` is not callable.
    """
    args, kwargs = prepare(record, fn, allow_redacted)
    with capturing() as captured:
        async with span(_SPAN_NAME, **_marks(record)) as opened:
            started = time.perf_counter()
            result: Any = None
            error: Exception | None = None
            try:
                result = fn(*args, **kwargs)
                if inspect.isawaitable(result):
                    result = await result
                if isinstance(result, AsyncIterator):
                    result = [item async for item in result]
                elif isinstance(result, Iterator):
                    result = list(result)
            except Exception as exc:
                error = exc
            elapsed = (time.perf_counter() - started) * 1000
    return _finish(record, fn, opened.span_id, captured, result, error, elapsed)


def _marks(record: Record) -> dict[str, Any]:
    return {"replay_of": record.span_id, "replay_trace": record.trace_id}


# -- from a run to its outcome ----------------------------------------------------------------


def _finish(
    record: Record,
    fn: Callable[..., Any],
    span_id: str,
    captured: Sequence[Record],
    result: Any,
    error: Exception | None,
    elapsed_ms: float,
) -> Replay:
    run = _descendants(captured, span_id)
    calls = _outer_calls(run)
    if isinstance(result, Failure):  # a guard with on_fail="return"
        error, result = result.error, None
    if error is not None:
        status: Status = "limit" if isinstance(error, LimitExceeded) else "error"
        outcome = ReplayOutcome(
            status=status,
            error_type=error_type_name(error),
            error_message=str(error),
            duration_ms=elapsed_ms,
            **_totals(calls),
        )
    else:
        outcome = ReplayOutcome(
            status="ok",
            value=_value(result, calls),
            duration_ms=elapsed_ms,
            **_totals(calls),
        )
    return Replay(
        record=record,
        old=ReplayOutcome.of_record(record),
        new=outcome,
        function=function_name(fn),
        result=result,
        error=error,
        records=tuple(run),
    )


def _descendants(records: Sequence[Record], root: str) -> list[Record]:
    """The records under the span ``root`` (itself included), in the order they ended."""
    parents = {r.span_id: r.parent_id for r in records}
    inside: dict[str, bool] = {root: True}

    def under(span_id: str | None) -> bool:
        seen = []
        while span_id is not None and span_id not in inside:
            seen.append(span_id)
            span_id = parents.get(span_id)
        answer = span_id is not None and inside[span_id]
        for item in seen:
            inside[item] = answer
        return answer

    return [r for r in records if under(r.span_id)]


def _outer_calls(run: Sequence[Record]) -> list[Record]:
    """The run's ``llm`` records that are not inside another one (a guarded fallback)."""
    by_id = {r.span_id: r for r in run}
    outer = []
    for record in run:
        if record.kind != "llm":
            continue
        parent = by_id.get(record.parent_id or "")
        while parent is not None and parent.kind != "llm":
            parent = by_id.get(parent.parent_id or "")
        if parent is None:
            outer.append(record)
    return outer


def _cost(call: Record) -> float | None:
    """What a call cost: its recorded cost, else its usage priced at its start."""
    if call.cost_usd is not None:
        return call.cost_usd
    try:
        return pricing.record_cost(call)
    except Exception:  # pricing must never stop a replay from reporting
        return None


def _totals(calls: Sequence[Record]) -> dict[str, Any]:
    usage: Usage | None = None
    cost: float | None = None
    attempts: int | None = None
    for call in calls:
        usage = sum_usage(usage, call.usage)
        priced = _cost(call)
        if priced is not None:
            cost = (cost or 0.0) + priced
        count = (call.attempt or {}).get("count")
        if isinstance(count, int):
            attempts = (attempts or 0) + count
    models = {call.model for call in calls if call.model is not None}
    model = models.pop() if len(models) == 1 else None
    return {"usage": usage, "cost_usd": cost, "attempts": attempts, "model": model}


def _value(result: Any, calls: Sequence[Record]) -> Any:
    # The value as the recorded one was kept -- redacted and bounded by the same
    # settings -- when the run recorded it, so the two compare like for like.
    if len(calls) == 1 and calls[0].output is not None:
        return calls[0].output
    return snapshot(result)


def _discard(awaitable: Awaitable[Any]) -> None:
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()
