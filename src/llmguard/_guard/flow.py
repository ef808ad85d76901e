"""The corrective-retry flow, written once for sync and async callers.

The flow is a generator that never does I/O itself (like httpx's ``Auth.auth_flow``):
it yields what it needs -- call the function, pause, drain a stream -- and is sent
what happened. The drivers in `llmguard._guard.drivers` are the only places that call,
sleep or iterate, so the policy below exists in one copy for both worlds.

Most calls need none of it: one attempt, accepted. When nothing is to be reserved
before the call (`direct`), the guard makes attempt 1 itself and `settle_direct`
judges it with the same functions the flow uses; only an attempt that is not accepted
starts the generator, which carries on from it (`Started`).
"""

from __future__ import annotations

import dataclasses
import json
import time
import types
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmguard import pricing
from llmguard._core.content import snapshot
from llmguard._core.context import check_run, open_run
from llmguard._core.field_errors import FieldError
from llmguard._core.outcomes import Attempt, Outcome
from llmguard._core.records import Usage, sum_usage
from llmguard._delivery.pipeline import report
from llmguard._guard.call import prefill
from llmguard._guard.drivers import Done, Drain, Invoke, Pause, Result
from llmguard._guard.limits import Admission, CallLimits, Limits
from llmguard._guard.passthrough import OutputCap
from llmguard._spend.budgets import active as active_budgets
from llmguard._spend.rate_limits import active as open_rate_limits
from llmguard._spend.rate_limits import admit_all, limits_for
from llmguard._tracing.spans import Span, error_type_name
from llmguard.adapters import Reply, adapt
from llmguard.exceptions import (
    BadReturn,
    BudgetUnavailable,
    GuardError,
    LimitExceeded,
    OutputTruncated,
    ProviderError,
    Refused,
    SchemaViolation,
)

if TYPE_CHECKING:
    from llmguard._core.reply import ReportedError
    from llmguard._guard.call import Call, Parameters, Reask
    from llmguard._guard.limits import CallLimits
    from llmguard._guard.schema import CompiledSchema
    from llmguard._guard.structured import Sender
    from llmguard._spend.rate_limits import Permit, RateLimit
    from llmguard._tracing.spans import Span
    from llmguard.adapters import Reply

__all__ = [
    "UNUSABLE_USAGE",
    "Charged",
    "Failure",
    "Plan",
    "Settled",
    "Started",
    "Steps",
    "StreamHandOff",
    "Tally",
    "bad_return",
    "describe",
    "direct",
    "guarded_flow",
    "open_attempt",
    "settle_direct",
]


#: The warning and ``internal`` record for a response whose token counts are garbage.
UNUSABLE_USAGE = "a response reported token usage that is not a count; it is recorded as unknown"


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


@dataclass(frozen=True, slots=True)
class Plan:
    """A guard's policy, as the flow needs it; built once at decoration time."""

    schema: CompiledSchema | None
    retries: int
    transient_retries: int
    is_transient: Callable[[BaseException], bool]
    wait: Callable[[int, BaseException], float]
    reask: Reask
    fallbacks: tuple[tuple[Callable[..., Any], Parameters], ...]
    context: Callable[[Call], dict[str, Any] | None]
    limits: Limits | None = None
    model: str | None = None
    rate_limit: RateLimit | None = None
    send: Sender | None = None  # puts the schema into each call (send_schema=)
    fallback_send: tuple[Sender | None, ...] = ()  # the same, for each fallback
    repair: bool = True  # json-repair as the last stage of reading a text answer


@dataclass(frozen=True, slots=True)
class StreamHandOff:
    """The flow's answer when an unvalidated stream goes back to the caller as it is.

    ``finish`` records the attempt and the call once the caller is done with the stream,
    with what was read and the exception that cut the stream short, if any.
    """

    stream: Any
    finish: Callable[[Reply | None, BaseException | None], None]
    cap: OutputCap | None = None


def _is_stream(response: object) -> bool:
    # The ABCs look at the class, not the instance: hasattr() on an SDK's pydantic
    # response would go through its __getattr__ and cost microseconds per call.
    return isinstance(response, (Iterator, AsyncIterator))


def _answer_text(reply: Reply) -> str | None:
    calls = reply.tool_calls
    if len(calls) > 1:  # every call, as a JSON array of {"name", "arguments"}
        found = [{"name": call.name, "arguments": call.arguments} for call in calls]
        return json.dumps(snapshot(found), ensure_ascii=False)
    if calls:
        arguments = calls[0].arguments
        if isinstance(arguments, str):
            return arguments
        return json.dumps(snapshot(arguments), ensure_ascii=False)
    return reply.text


# What a guarded function may return that no model answers with (see `BadReturn`).
_NON_ANSWERS = (Failure, types.CoroutineType)


def bad_return(name: str, response: object) -> BadReturn | None:
    """The error for a return value that cannot be an answer, else ``None``."""
    if response is None:
        return BadReturn(name, "None", "did it forget to return the response?")
    if isinstance(response, Failure):
        hint = f"another guard gave up on the call ({response.error})"
        return BadReturn(name, "an lg.Failure", hint)
    if isinstance(response, types.CoroutineType):
        response.close()  # never awaited, and never to be: no warning at its collection
        return BadReturn(name, "a coroutine", "await it, or make the function async")
    return None


@dataclass(slots=True)
class Started:
    """Attempt 1 as a driver made it directly, for `guarded_flow` to carry on from.

    ``reply`` and ``attempt`` are set once `settle_direct` has judged the answer.
    """

    span: Span
    started: float
    result: Result
    reply: Reply | None = None
    attempt: Attempt | None = None


def direct(plan: Plan) -> bool:
    """Whether a driver may make attempt 1 itself, skipping the flow when it succeeds.

    So it may when nothing is to be checked, counted, reserved or waited for before the
    call: no token or cost cap, no rate limit and no budget, the guard's own or open
    around it, and no agent run (with its deadline). The flow's generator and its
    requests cost a guarded call a third of what llmguard adds to an SDK call.
    """
    return (
        plan.limits is None
        and plan.rate_limit is None
        and not active_budgets()
        and not open_rate_limits()
        and open_run.get() is None
    )


def open_attempt(llm: Span, number: int = 1) -> Span:
    """Start the span of attempt ``number`` of the call ``llm``."""
    return Span(_attempt_name(number), "attempt").start(llm)


def settle_direct(
    plan: Plan, call: Call, llm: Span, span: Span, started: float, result: Result
) -> tuple[bool, Any]:
    """Judge attempt 1 made by a driver (see `direct`) in ``span`` since ``started``.

    Returns ``(True, value)`` when the call is done -- the value is what `guarded_flow`
    would return -- and else ``(False, head)``, the `Started` attempt for the flow to
    carry on from: an exception, a stream, or an answer that was not accepted.
    """
    response = result.value
    if result.error is not None or _is_stream(response):
        return False, Started(span, started, result)
    if plan.schema is not None and (response is None or isinstance(response, _NON_ANSWERS)):
        return False, Started(span, started, result)
    latency = (time.perf_counter() - started) * 1000
    reply = adapt(response)
    attempt = _judge(plan, call, 1, _function_name(call.fn), response, reply, latency)
    if attempt.outcome != "ok" or (reply is not None and reply.error is not None):
        return False, Started(span, started, result, reply, attempt)
    tally = Tally(None)
    tally.close(span, attempt)
    return True, _accept(plan, tally, llm, attempt)


class Steps:
    """One guarded call as the requests its driver carries out, until `Done`.

    With nothing to check, count, reserve or wait for before the call (`direct`), attempt
    1 is asked for here and judged by `settle_direct`; `guarded_flow` takes over from it
    on anything but an accepted answer, and from the start otherwise. Either way a
    driver sees one sequence: `send` the result of the last request, get the next one.
    """

    __slots__ = ("_call", "_flow", "_head", "_llm", "_plan")

    def __init__(self, plan: Plan, call: Call, llm: Span) -> None:
        self._plan, self._call, self._llm = plan, call, llm
        self._flow: Generator[Invoke | Pause | Drain, Any, Any] | None = None
        self._head: tuple[Span, float] | None = None

    @classmethod
    def of(cls, flow: Generator[Invoke | Pause | Drain, Any, Any]) -> Steps:
        """The steps of a flow already made (for tests and tools that build one)."""
        steps = cls.__new__(cls)
        steps._flow, steps._head = flow, None
        return steps

    def send(self, sent: Any) -> Invoke | Pause | Drain | Done:
        """The next request, given what the last one gave (``None`` for the first)."""
        flow = self._flow
        if flow is None:
            plan, call, llm = self._plan, self._call, self._llm
            head = self._head
            if head is None and direct(plan):
                span = open_attempt(llm)
                first = call if plan.send is None else _with_schema(plan.send, call, span)
                self._head = (span, time.perf_counter())
                return Invoke(first, span)
            started = None
            if head is not None:
                done, value = settle_direct(plan, call, llm, head[0], head[1], sent)
                if done:
                    return Done(value)
                started, sent = value, None
            flow = self._flow = guarded_flow(plan, call, llm, started)
        try:
            return flow.send(sent)
        except StopIteration as stop:
            return Done(stop.value)

    def close(self) -> None:
        """Stop where the call is: the flow's generator, if it was started, is closed."""
        if self._flow is not None:
            self._flow.close()


def _with_schema(send: Sender, call: Call, span: Span) -> Call:
    """The call with the schema put in (``send_schema=``); what was sent is recorded."""
    sent, how = send(call)
    span.set_attribute("schema_sent", how)
    return sent


def _accept(plan: Plan, tally: Tally, llm: Span, attempt: Attempt) -> Any:
    tally.finish(llm, "ok", attempt.reply)
    return attempt.response if plan.schema is None else attempt.value


def _function_name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__qualname__


def guarded_flow(
    plan: Plan, call: Call, llm: Span, head: Started | None = None
) -> Generator[Invoke | Pause | Drain, Any, Any]:
    """Run one guarded call: attempts, corrective re-asks, transient retries, fallbacks.

    Yields requests for the driver and returns the value for the caller -- the
    validated value, the raw response when there is no schema, or a `StreamHandOff`.
    With ``head``, attempt 1 was already made by the driver (see `direct`).

    Raises:
        SchemaViolation: Every attempt of every function failed the schema.
        OutputTruncated: An answer was cut at the output token limit.
        Refused: The model refused to answer.
    """
    rate_limits = limits_for(plan.rate_limit)
    account = _account(plan, call, llm, rate_limits)
    tally = Tally(account)
    try:
        return (yield from _attempts(plan, call, llm, head, rate_limits, account, tally))
    except BaseException:
        # Raised by the caller's own code (a custom backoff or reask=...), or the flow
        # closed while it waited to retry (a cancelled task, Ctrl-C, an inline loop
        # left), before the call's record was settled: it still says what was used.
        if not tally.outcome:
            tally.finish(llm, "error", None)
        raise


def _attempts(
    plan: Plan,
    call: Call,
    llm: Span,
    head: Started | None,
    rate_limits: tuple[RateLimit, ...],
    account: CallLimits | None,
    tally: Tally,
) -> Generator[Invoke | Pause | Drain, Any, Any]:
    """The attempts of `guarded_flow`, every function's in turn."""
    functions = ((call.fn, call.params), *plan.fallbacks)
    sends = (plan.send, *plan.fallback_send)  # a plan built by hand may have none
    last_error: BaseException | None = None
    last_held: tuple[Any, Reply] | None = None  # the response that failed, with no schema
    for position, (fn, params) in enumerate(functions):
        tally.fallback = position
        given = original = call if position == 0 else call.with_function(fn, params)
        send = sends[position] if position < len(sends) else None
        sent = None
        if send is not None:
            # Re-asks are built from `original`, so they keep the schema too; `given`,
            # the caller's arguments, is what a context= callable is called with.
            original, sent = send(original)
        current = original
        corrective = transient = 0
        name = _function_name(fn)
        while True:
            number = len(tally.attempts) + 1
            admission = None
            made, head = head, None
            if made is not None:  # attempt 1, made by the driver
                span, started, result = made.span, made.started, made.result
            else:
                span = open_attempt(llm, number)
                if sent is not None:
                    span.set_attribute("schema_sent", sent)
                if current is not call:
                    # The first attempt sends what the call's own record already holds.
                    messages = current.messages
                    span.set_input(messages if messages is not None else current.args)
                try:
                    check_run()  # an agent run's deadline
                    if account is not None:
                        prepared = account.prepare(current, llm.trace_id)
                        permits: tuple[Permit, ...] = ()
                        if rate_limits:
                            permits = yield from _take_rates(
                                rate_limits, prepared.tokens, account, span
                            )
                        try:
                            admission = account.reserve(prepared, permits)
                        except BaseException:
                            for permit in permits:
                                permit.cancel()
                            raise
                except (LimitExceeded, BudgetUnavailable) as exc:
                    if account is not None and account.model is not None:
                        span.set_attribute("model", account.model)  # no reply will say it
                    span.record_exception(exc)
                    limited = isinstance(exc, LimitExceeded)
                    span.set_status("limit" if limited else "error", str(exc))
                    span.end()
                    tally.finish(llm, "limit" if limited else "error", None)
                    raise
                if admission is not None:
                    current = admission.call
                    if admission.output_cap is not None:
                        llm.set_attribute("max_tokens", admission.output_cap)
                    if admission.input_tokens is not None:
                        span.set_attribute("counted_input_tokens", admission.input_tokens)
                        span.set_attribute("counted_estimated", admission.estimated)
                    if admission.dropped_turns:
                        span.set_attribute("dropped_turns", admission.dropped_turns)
                started = time.perf_counter()
                result = yield Invoke(current, span)
            response = result.value
            held = None
            bad = None if plan.schema is None or result.error else bad_return(name, response)
            if bad is not None:  # a programming error: raised now, never re-asked or retried
                if account is not None and admission is not None:
                    account.release(admission)
                latency = (time.perf_counter() - started) * 1000
                attempt = Attempt(
                    number=number, function=name, outcome="error", latency_ms=latency, error=bad
                )
                tally.close(span, attempt)
                tally.finish(llm, "error", None)
                raise bad
            streamed = result.error is None and _is_stream(response)
            if streamed:
                if plan.schema is None:
                    finisher = _stream_finisher(
                        plan, given, tally, llm, span, number, name, admission
                    )
                    return StreamHandOff(response, finisher, _stream_cap(plan, admission))
                # A stream cut short (a timeout mid-answer) fails like the call itself.
                result = yield Drain(response)
                if result.closed_with is not None:
                    # Read whole, then its close() failed: judged on what it delivered.
                    span.set_attribute("stream_close_error", _error_text(result.closed_with))
            latency = (time.perf_counter() - started) * 1000
            reply = None
            if result.error is None:
                if made is not None and made.attempt is not None:
                    reply = made.reply  # judged by settle_direct
                else:
                    reply = result.value if streamed else adapt(response)
                if reply is not None and reply.error is not None:
                    # The server failed inside the response: its failure, not an answer.
                    failure = _provider_error(reply.error, reply.usage)
                    if plan.schema is not None:
                        result = Result(result.value, failure)
                    elif plan.is_transient(failure):
                        # Without a schema the response is the caller's, yet a transient
                        # failure in it is retried as a raised one is; the last such
                        # response goes back as it came when the retries run out.
                        held = (response, reply)
                        result = Result(result.value, failure)
            if result.error is not None:
                error = result.error
                transient_error = isinstance(error, Exception) and plan.is_transient(error)
                outcome: Outcome = "transient_error" if transient_error else "error"
                attempt = Attempt(
                    number=number, function=name, outcome=outcome, latency_ms=latency, error=error
                )
                cut = reply
                if cut is None and streamed and isinstance(result.value, Reply):
                    cut = result.value
                if cut is not None:  # a stream cut short: its records keep what it delivered
                    attempt.reply, attempt.usage, attempt.text = cut, cut.usage, _answer_text(cut)
                charged = None
                if account is not None and admission is not None:
                    if cut is None:  # failed before answering: nothing was billed
                        account.release(admission)
                    else:
                        # A stream cut short was billed for what it streamed, though its
                        # count never came; a whole response's usage is its bill.
                        charged = _charge(account, admission, attempt, cut=streamed)
                tally.close(span, attempt, charged)
                if not transient_error:
                    tally.finish(llm, "error", cut)
                    raise _with_attempts(error, tally)
                last_error, last_held = error, held
                if transient < plan.transient_retries:
                    transient += 1
                    tally.transient += 1
                    yield Pause(plan.wait(transient, error))
                    continue
                break  # transient retries exhausted: the next fallback, if any
            if made is not None and made.attempt is not None:
                attempt = made.attempt  # judged by settle_direct
            else:
                if streamed and result.response is not None:
                    response = result.response  # the whole response the stream ended with
                attempt = _judge(plan, given, number, name, response, reply, latency)
            if plan.schema is None and reply is not None and reply.error is not None:
                # The response is the caller's to read, as it came; its records say the
                # provider failed inside it, as a stream's do.
                failure = _provider_error(reply.error, reply.usage)
                attempt = dataclasses.replace(attempt, outcome="error", error=failure)
                tally.close(span, attempt, _charge(account, admission, attempt))
                llm.record_exception(_with_attempts(failure, tally))
                tally.finish(llm, "error", reply)
                return attempt.response
            tally.close(span, attempt, _charge(account, admission, attempt))
            if attempt.outcome == "ok":
                return _accept(plan, tally, llm, attempt)
            if attempt.error is not None:  # the caller's context= or validator raised
                tally.finish(llm, "error", reply)
                raise attempt.error
            if attempt.outcome in ("truncated", "refused"):
                tally.finish(llm, attempt.outcome, reply)
                kind = OutputTruncated if attempt.outcome == "truncated" else Refused
                raise kind(tuple(tally.attempts), tally.usage)
            if corrective >= plan.retries:
                last_error = None
                break
            current = plan.reask(original, attempt)  # before counting: it may raise
            corrective += 1
            tally.corrective += 1
    if last_error is not None and last_held is not None:
        llm.record_exception(_with_attempts(last_error, tally))
        tally.finish(llm, "error", last_held[1])
        return last_held[0]
    tally.finish(llm, "schema_violation" if last_error is None else "error", None)
    if last_error is not None:
        raise _with_attempts(last_error, tally)
    raise SchemaViolation(tuple(tally.attempts), tally.usage)


def _provider_error(reported: ReportedError, usage: Usage | None) -> ProviderError:
    """The error of one attempt whose response the provider said it failed to finish."""
    return ProviderError(
        (), usage, type=reported.type, code=reported.code, message=reported.message
    )


def _with_attempts(error: BaseException, tally: Tally) -> BaseException:
    """The error that ends the call: a `ProviderError` told every attempt and their
    usage; any other (the function's own) unchanged."""
    if not isinstance(error, ProviderError):
        return error
    return ProviderError(
        tuple(tally.attempts), tally.usage, type=error.type, code=error.code, message=error.message
    )


def _error_text(exc: BaseException) -> str:
    try:
        return f"{error_type_name(exc)}: {exc}"
    except Exception:  # an exception whose str() fails
        return error_type_name(exc)


_ATTEMPT_NAMES = tuple(f"attempt {number}" for number in range(1, 9))


def _attempt_name(number: int) -> str:
    return _ATTEMPT_NAMES[number - 1] if number <= len(_ATTEMPT_NAMES) else f"attempt {number}"


def _stream_cap(plan: Plan, admission: Admission | None) -> OutputCap | None:
    """The output cap llmguard keeps on a passing stream itself: when the function could
    not be given the cap, so the model would not stop there on its own."""
    limits = plan.limits
    if limits is None or limits.max_output_tokens is None:
        return None
    if admission is not None and admission.output_cap_sent:
        return None
    model = admission.call.model() if admission is not None else None
    return OutputCap(limits.max_output_tokens, limits.on_output_overflow, plan.model or model)


def _take_rates(
    limits: tuple[RateLimit, ...], tokens: int, account: CallLimits, span: Span
) -> Generator[Pause, None, tuple[Permit, ...]]:
    """Take the attempt's room in its rate limits, pausing the call while it waits."""
    flow = admit_all(limits, tokens)
    waited = 0.0
    try:
        seconds = next(flow)
        while True:
            waited += seconds
            yield Pause(seconds)
            seconds = flow.send(None)
    except StopIteration as done:
        permits: tuple[Permit, ...] = done.value
        return permits
    except LimitExceeded:
        account.tripped = "rate_limit"
        raise
    finally:
        if waited:
            span.set_attribute("rate_limit_wait_s", round(waited, 6))


def _account(
    plan: Plan, call: Call, llm: Span, rate_limits: tuple[RateLimit, ...] = ()
) -> CallLimits | None:
    """The call's account of tokens and dollars, when a cap, a budget or a rate limit
    asks for one."""
    if plan.limits is None and not rate_limits and not active_budgets():
        return None
    return CallLimits(plan.limits or Limits(), plan.model or call.model(), llm.name)


def _charge(
    account: CallLimits | None, admission: Admission | None, attempt: Attempt, *, cut: bool = False
) -> Charged | None:
    """Replace the attempt's reservation in the call's account with its usage and cost
    (with what it held, for a stream ``cut`` mid-answer).

    ``None`` without an account: the attempt's record prices it when it is built.
    """
    if account is None or admission is None:
        return None
    reply = attempt.reply
    model = reply.model if reply is not None else None
    cost = account.settle(admission, attempt.usage, model, cut=cut)
    return Charged(attempt, cost, True, account.model or (reply.model if reply else None))


def _stream_finisher(
    plan: Plan,
    call: Call,
    tally: Tally,
    llm: Span,
    span: Span,
    number: int,
    name: str,
    admission: Admission | None,
) -> Callable[[Reply | None, BaseException | None], None]:
    started = time.perf_counter()

    def finish(reply: Reply | None, error: BaseException | None) -> None:
        latency = (time.perf_counter() - started) * 1000
        attempt = _judge(plan, call, number, name, None, reply, latency)
        if error is None and reply is not None and reply.error is not None:
            error = _provider_error(reply.error, reply.usage)  # recorded; the caller has it
            llm.record_exception(error)
        if error is not None:
            attempt = dataclasses.replace(attempt, outcome="error", error=error)
        charged = _charge(tally.account, admission, attempt, cut=error is not None)
        tally.close(span, attempt, charged)
        tally.finish(llm, attempt.outcome, reply)

    return finish


def _judge(
    plan: Plan,
    call: Call,
    number: int,
    name: str,
    response: Any,
    reply: Reply | None,
    latency: float,
) -> Attempt:
    outcome: Outcome = "ok"
    text = None
    if reply is not None:
        if reply.problems:
            # Garbage from the provider is the provider's, never the application's error.
            report(UNUSABLE_USAGE, ValueError("; ".join(reply.problems)))
        text = _answer_text(reply)
        if reply.provider == "anthropic" and not reply.tool_calls:
            head = prefill(call)  # the answer continues the caller's assistant turn
            if head:
                text = head + (text or "")
        if reply.finish_reason == "length":
            outcome = "truncated"
        elif reply.refusal is not None or reply.finish_reason == "refusal":
            outcome = "refused"
    attempt = Attempt(
        number=number,
        function=name,
        outcome=outcome,
        text=text,
        latency_ms=latency,
        usage=reply.usage if reply is not None else None,
        reply=reply,
        response=response,
    )
    schema = plan.schema
    if schema is not None and reply is not None and len(reply.tool_calls) > 1:
        # The rule `extract_calls` reads the answer by; the re-ask and the records follow it.
        attempt.answer_index = schema.answer_call(reply.tool_calls)
    if schema is None or outcome != "ok":
        return attempt
    extract, extract_calls, extract_value = _readers or _load_readers()
    try:
        context = plan.context(call)
        if reply is None:
            extraction = extract_value(response, schema, context=context, repair="object")
        elif reply.tool_calls:
            extraction = extract_calls(reply.tool_calls, schema, context=context)
            if extraction.ok and schema.reads_list and reply.finish_reason in _CUT_SHORT:
                # Calls read as a list's items, cut before the model finished: the calls
                # that arrived whole would be a shorter list, so the answer is re-asked.
                extraction = _cut_calls(reply.finish_reason)
        else:
            # A content filter or a failure cut the answer: closing it would make up an end.
            repair = plan.repair and reply.finish_reason not in _CUT_SHORT
            extraction = extract(attempt.text or "", schema, context=context, repair=repair)
    except BaseException as exc:
        # The caller's own code failed on a paid answer: a ``context=`` callable, or a
        # validator raising what pydantic passes on (a TypeError, a KeyError). Raised
        # unchanged by the flow, once the attempt is charged and recorded.
        attempt.outcome, attempt.error = "error", exc
        return attempt
    if not extraction.ok:
        attempt.outcome = "invalid"
        attempt.errors = extraction.errors
    else:
        attempt.repair = extraction.repair
        attempt.stage = extraction.stage
        attempt.note = extraction.note
        attempt.value = extraction.value
    return attempt


_readers: Any = None

# Finish reasons of an answer that stopped before the model finished it, which
# json-repair must not close: a content filter, a stream's error, Anthropic's paused
# turn, and every Responses API status but "completed" (the adapter keeps them, and
# reads an "incomplete" one as "length" or "content_filter" when it says why).
_CUT_SHORT = frozenset(
    {"content_filter", "error", "pause_turn"}
    | {"failed", "cancelled", "incomplete", "in_progress", "queued"}
)


def _cut_calls(finish: str | None) -> Any:
    """The judgement of a list answered in tool calls whose answer was cut short."""
    from llmguard._guard.schema import Extraction

    message = (
        f"the answer stopped before it was finished (finish reason {finish!r}), so the "
        "list may be missing items; make all the calls again"
    )
    return Extraction(value=None, repair=None, errors=(FieldError("$", message, ""),), ok=False)


def _load_readers() -> Any:
    # Imported at the first schema check, not with the module (it loads pydantic), and
    # kept, so that a call does not run an import statement.
    global _readers
    from llmguard._guard.schema import extract, extract_calls, extract_value

    _readers = (extract, extract_calls, extract_value)
    return _readers


# -- The records of a guarded call and of its attempts, filled in off the caller's thread.


class Charged:
    """One attempt as its record tells it; the record is filled in off the caller's thread.

    ``cost`` is what the call's account settled, when it has one (``priced``), pricing
    ``model``; else the attempt is priced from its usage when the record is built.
    It keeps what the record needs of the attempt (its summary, usage and `Reply`),
    not the attempt itself: the response the function returned, and the value read
    from it, are not held until delivery builds the record.
    """

    __slots__ = ("cost", "model", "priced", "reply", "source", "summary", "usage")

    def __init__(
        self, attempt: Attempt, cost: float | None, priced: bool, model: str | None = None
    ) -> None:
        self.summary = attempt.summary()
        self.usage = attempt.usage
        self.reply = attempt.reply
        self.cost = cost
        self.priced = priced
        self.model = model
        self.source: str | None = None  # `price_source`, once asked

    def cost_usd(self) -> float | None:
        if not self.priced:
            reply = self.reply
            model = self.model = reply.model if reply is not None else None
            usage = self.usage
            self.cost = None if usage is None or model is None else pricing.cost(usage, model)
            self.priced = True
        return self.cost

    def price_source(self) -> str | None:
        """The price entry behind `cost_usd` (`pricing.source`), when there is a cost."""
        if self.source is None:
            if self.cost_usd() is None or self.model is None:
                return None
            self.source = pricing.source(self.model)
        return self.source

    def fill(self, span: Span) -> None:
        fields: dict[str, Any] = {"attempt": self.summary}
        if self.usage is not None:
            fields["usage"] = self.usage
        cost = self.cost_usd()
        if cost is not None:
            fields["cost_usd"] = cost
            fields["price_table"] = pricing.table_version()
            source = self.price_source()
            if source:
                fields["price_source"] = source
        reply = self.reply
        span.fill_fields(fields, None if reply is None else _described(span, reply, fields))


class Tally:
    """The call-level counts and sums the llm record reports."""

    __slots__ = (
        "account",
        "attempts",
        "charged",
        "corrective",
        "fallback",
        "limits",
        "outcome",
        "reply",
        "transient",
        "usage",
    )

    def __init__(self, account: CallLimits | None) -> None:
        self.account = account
        self.attempts: list[Attempt] = []
        self.charged: list[Charged] = []
        self.corrective = 0
        self.transient = 0
        self.fallback = 0
        self.usage: Usage | None = None
        self.outcome = ""
        self.reply: Reply | None = None
        self.limits: dict[str, Any] | None = None

    def add(self, attempt: Attempt) -> Attempt:
        self.attempts.append(attempt)
        self.usage = sum_usage(self.usage, attempt.usage)
        return attempt

    def close(self, span: Span, attempt: Attempt, charged: Charged | None = None) -> None:
        """Add ``attempt`` and end its span, its record to be filled in later."""
        self.add(attempt)
        charged = charged or Charged(attempt, None, False)
        self.charged.append(charged)
        if attempt.reply is not None:
            span.set_output(attempt.text)
        if attempt.error is not None:
            span.record_exception(attempt.error)
        elif attempt.outcome != "ok":
            span.set_status("error", attempt.outcome)
        span.fill_later(charged.fill)
        span.end()

    def finish(self, llm: Span, outcome: str, reply: Reply | None) -> None:
        """Settle what the llm record will say; it is filled in when built.

        What the record needs is taken now into a `Settled`, so the tally -- its
        attempts, with the responses and values they hold -- is not kept alive for it.
        """
        self.outcome = outcome
        self.reply = reply
        if self.account is not None:
            self.limits = self.account.describe()
        summary = {
            "count": len(self.attempts),
            "outcome": outcome,
            "corrective_retries": self.corrective,
            "transient_retries": self.transient,
            "fallback": self.fallback,
        }
        settled = Settled(summary, self.usage, self.limits, tuple(self.charged), reply)
        llm.fill_later(settled.fill)


class Settled:
    """What the llm record of a finished call says, filled in when it is built."""

    __slots__ = ("charged", "limits", "reply", "summary", "usage")

    def __init__(
        self,
        summary: dict[str, Any],
        usage: Usage | None,
        limits: dict[str, Any] | None,
        charged: tuple[Charged, ...],
        reply: Reply | None,
    ) -> None:
        self.summary = summary
        self.usage = usage
        self.limits = limits
        self.charged = charged
        self.reply = reply

    def fill(self, llm: Span) -> None:
        fields: dict[str, Any] = {"attempt": self.summary}
        if self.usage is not None:
            fields["usage"] = self.usage
        if self.limits is not None:
            fields["limits"] = self.limits
        charged = self.charged
        costs = [c for c in (one.cost_usd() for one in charged) if c is not None]
        if costs:
            fields["cost_usd"] = sum(costs)
            fields["price_table"] = pricing.table_version()
            _put_source(fields, [one.price_source() for one in charged])
        reply = self.reply
        llm.fill_fields(fields, None if reply is None else _described(llm, reply, fields))


def _put_source(fields: dict[str, Any], sources: list[str | None]) -> None:
    # The price entries behind a cost, each named once in the order first used: more
    # than one when a fallback answered with another model.
    named = list(dict.fromkeys(source for source in sources if source))
    if named:
        fields["price_source"] = "; ".join(named)


def describe(span: Span, reply: Reply) -> None:
    """Fill in what ``reply`` says of the answer: model, provider, finish reason, ids."""
    fields: dict[str, Any] = {}
    span.fill_fields(fields, _described(span, reply, fields))


def _described(span: Span, reply: Reply, fields: dict[str, Any]) -> dict[str, Any]:
    """Add ``reply``'s fields to ``fields`` (those the span has not set already) and
    return the metadata it adds."""
    # The model asked for, when known, stays the record's model; the response's more
    # precise name (a dated snapshot) is kept beside it.
    metadata: dict[str, Any] = {}
    model = reply.model
    if model is not None:
        metadata["response_model"] = model
        if not span.has_attribute("model"):
            fields["model"] = model
    if reply.provider is not None and not span.has_attribute("provider"):
        fields["provider"] = reply.provider
    if reply.finish_reason is not None:
        fields["finish_reason"] = reply.finish_reason
    if reply.response_id is not None:
        metadata["response_id"] = reply.response_id
    if reply.problems:
        metadata["usage_problems"] = list(reply.problems)
    return metadata
