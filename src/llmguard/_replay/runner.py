"""``lg.replay``: run a recorded guarded call's input again, against today's code.

A replay takes the ``llm`` record of one guarded call -- from a store, a JSON Lines
file or `llmguard.testing.capture` -- rebuilds the arguments the call was made with
from the record's captured input, runs the given function with them, and sets the
recorded outcome beside the new one. The new run is a real call (it reaches the
model and is recorded like any other), made under a span named ``llmguard.replay``
whose metadata names the replayed span, so replays can be told apart from traffic.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

from llmguard import pricing
from llmguard._core.content import snapshot
from llmguard._core.records import Record, Status, Usage, sum_usage
from llmguard._core.wrap import CallKind, call_kind
from llmguard._delivery.pipeline import capturing
from llmguard._guard.flow import Failure
from llmguard._replay.inputs import function_name, prepare
from llmguard._replay.results import Replay, ReplayOutcome
from llmguard._tracing.spans import error_type_name, span
from llmguard.exceptions import LimitExceeded, ReplayError

__all__ = ["Replay", "ReplayError", "ReplayOutcome", "areplay", "replay"]

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


def _totals(calls: Sequence[Record]) -> dict[str, Any]:
    usage: Usage | None = None
    cost: float | None = None
    attempts: int | None = None
    for call in calls:
        usage = sum_usage(usage, call.usage)
        if call.cost_usd is not None:
            cost = (cost or 0.0) + call.cost_usd
        count = (call.attempt or {}).get("count")
        if isinstance(count, int):
            attempts = (attempts or 0) + count
    models = {call.model for call in calls if call.model is not None}
    model = models.pop() if len(models) == 1 else None
    if cost is None and usage is not None and model is not None:
        cost = pricing.cost(usage, model)
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
