"""Agent runs: ``lg.agent`` caps an agent loop's steps, tool calls, tokens, dollars and time.

Each decorated call, and each ``with`` block, is one `Run`: an ``agent`` span, a `Budget`
(guarded calls inside charge it and every enclosing budget) and counters. A run opened
inside another is nested: its tool calls count against every enclosing run's
``max_tool_calls`` and its checks honour every enclosing deadline; steps are each run's
own. Limits are checked before the work they allow; the `LimitExceeded` that stops a
run carries its partial `RunState`, returned instead with ``on_limit="return"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import sys
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass
from types import FrameType
from typing import Any, Generic, Literal, ParamSpec, TypeVar, overload

from llmguard._core.content import snapshot
from llmguard._core.context import Checked, open_run
from llmguard._core.outcomes import RunState
from llmguard._core.wrap import CallKind, Wrapped, call_kind, unwrap_callable, wrap
from llmguard._spend.budgets import Budget, refused_by
from llmguard._tracing.spans import Span, active_span
from llmguard.exceptions import (
    BudgetExceeded,
    ConfigurationError,
    LimitExceeded,
    LoopDetected,
    StepLimitExceeded,
    TimeLimitExceeded,
    ToolCallLimitExceeded,
)

__all__ = ["Agent", "AgentStopped", "Run", "RunState", "agent", "current_run", "steps"]

P = ParamSpec("P")
R = TypeVar("R")
E = TypeVar("E", bound=LimitExceeded)
L = TypeVar("L", Literal["raise"], Literal["return"])
OnLimit = Literal["raise", "return"]

_run: ContextVar[Run | None] = ContextVar("llmguard.run", default=None)


@dataclass(frozen=True)
class AgentStopped:
    """What a decorated agent with ``on_limit="return"`` returns when a limit stops it.

    Always false, so ``if not result:`` tells a stopped run from a finished one.

    Attributes:
        state: What the run had done: steps, tool calls, tokens, cost, last output.
        error: The limit that stopped it.
    """

    state: RunState
    error: LimitExceeded

    def __bool__(self) -> bool:
        return False


def _canonical(value: Any) -> str:
    """The same text for equal JSON-like values, whatever their key order.

    Never raises: loop detection must not fail a tool call. What ``json.dumps`` cannot
    read (keys of mixed types, a cycle, a ``repr`` that raises, nesting past its
    recursion) is read as the JSON copy a trace records of it; what that cannot read
    either is unique to the object, so it is never taken for a repeat.
    """
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)
    except Exception:
        pass
    try:
        copied = snapshot(value)
        return json.dumps(copied, sort_keys=True, separators=(",", ":"), default=repr)
    except BaseException as exc:  # pydantic-core may panic (a BaseException) on a value
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise
    return f"<{type(value).__qualname__} at {id(value):#x}>"


def _digest(text: str) -> bytes:
    """What loop detection keeps of a canonical text: a run holds one per distinct call,
    and a model's arguments can be megabytes."""
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


class Run:
    """One run of an agent: its counters (``steps``, ``tool_calls``; refused ones are not
    counted), budget, spans and deadline; ``output`` and ``stop_reason`` as in `RunState`."""

    def __init__(self, agent: Agent[Any], name: str) -> None:
        self.agent, self.name = agent, name
        self.budget = Budget(
            max_tokens=agent.max_tokens, max_cost_usd=agent.max_cost_usd, unpriced=agent.unpriced
        )
        self.span = Span(name, "agent")
        self.span.set_attribute("operation", "invoke_agent")
        self.output: Any = None
        self.stop_reason: str | None = None
        self._stopped_by: LimitExceeded | None = None
        self.steps = self.tool_calls = self._unchanged = 0
        self._repeats: dict[tuple[str, bytes], int] = {}
        self._state: bytes | None = None
        self._step_span: Span | None = None
        self._lock = threading.Lock()
        self._started = agent.clock()
        self._deadline = None if agent.timeout_s is None else self._started + agent.timeout_s
        self._token: Token[Run | None]
        self._open_token: Token[Checked | None]
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[Any] | None = None
        self._fired = False
        self._parent: Run | None = None  # the run this one was opened in, if any
        self._open = False
        # The frame whose block opened the run (see `_own_run`), held while the run is
        # open: a frame let go could leave its address to another, and be taken for it.
        self._block: FrameType | None = None
        self.budget.name = name

    @property
    def usage(self) -> int:
        """Tokens used by the guarded calls made in the run."""
        return self.budget.used

    @property
    def cost_usd(self) -> float:
        """What the run's guarded calls cost, in US dollars."""
        return self.budget.cost_usd

    @property
    def remaining_steps(self) -> int | None:
        """Steps still allowed; ``None`` without ``max_steps``."""
        limit = self.agent.max_steps
        return None if limit is None else max(0, limit - self.steps)

    @property
    def trace_id(self) -> str | None:
        """The trace of the run's ``agent`` span."""
        return self.span.trace_id if self.span.trace_id_int else None

    def set_output(self, value: Any) -> None:
        """Record the run's latest output, kept in its `RunState` if a limit stops it."""
        self.output = value

    def state(self) -> RunState:
        """A snapshot of the run so far."""
        used, cost, reason = self.budget.used, self.budget.cost_usd, self.stop_reason
        counts = (self.name, self.steps, self.tool_calls, used, cost)
        return RunState(*counts, self.output, reason, self.trace_id)

    def __repr__(self) -> str:
        return f"Run(name={self.name!r}, steps={self.steps}, tool_calls={self.tool_calls})"

    def _refuse(self, cls: type[E], message: str, **data: Any) -> E:
        error = cls(f"agent {self.name!r} {message}", name=self.name, **data)
        _refusers[error] = self
        return error

    def _enclosing(self) -> list[Run]:
        """This run and the runs it is nested in that are still open, outermost first
        (a task started in a run may outlive it)."""
        runs: list[Run] = [self]
        run = self._parent
        while run is not None:
            if run.stop_reason is None:
                runs.append(run)
            run = run._parent
        runs.reverse()
        return runs

    def _refused_outside(self, exc: LimitExceeded) -> bool:
        """Whether ``exc`` is a limit of a run this one is nested in: one its own checks
        raised, or a refusal of its very budget (names and caps can repeat)."""
        refuser = _refusers.get(exc)
        budget = refused_by(exc) if isinstance(exc, BudgetExceeded) else None
        run = self._parent
        while run is not None:
            if refuser is run or (budget is not None and budget is run.budget):
                return True
            run = run._parent
        return False

    def step(self, state: Any = None) -> int:
        """Start the next step, after checking the run's limits; returns its number.

        ``state``, when given, is what the agent knows now: unchanged for ``max_repeats``
        consecutive steps, it means no progress. Raises `StepLimitExceeded`,
        `TimeLimitExceeded` or `LoopDetected`, before the step starts.
        """
        self._end_step()
        self.checkpoint()
        limit = self.agent.max_steps
        with self._lock:
            if limit is not None and self.steps >= limit:
                raise self._refuse(
                    StepLimitExceeded, f"took its max_steps={limit} steps", limit="max_steps",
                    maximum=limit, used=self.steps, requested=1,
                )  # fmt: skip
            if state is not None:
                self._check_progress(state)
            self.steps += 1
            number = self.steps
        opened = Span(f"step {number}", "step").start(self.span)
        opened.set_attribute("step", number)
        self._step_span = opened
        active_span.set(opened)
        return number

    def _check_progress(self, state: Any) -> None:
        text = _digest(_canonical(state))
        self._unchanged = self._unchanged + 1 if text == self._state else 0
        self._state = text
        limit = self.agent.max_repeats
        if limit is not None and self._unchanged >= limit:
            raise self._refuse(
                LoopDetected, f"made no progress: its state was unchanged for {limit} steps",
                tool=None, arguments=state, count=self._unchanged + 1, limit="max_repeats",
                maximum=limit, used=self._unchanged,
            )  # fmt: skip

    def tool_call(self, tool: str, arguments: Any) -> None:
        """Count a tool call about to be made, or refuse it: `ToolCallLimitExceeded`,
        `LoopDetected` (the same arguments, canonically, ``max_repeats`` times already)
        or `TimeLimitExceeded`.

        The call counts in this run and in every run it is nested in, or in none: each
        run's ``max_tool_calls`` is checked first (this run's, then outwards). Repeats
        are this run's own.
        """
        self.checkpoint()
        key = (tool, _digest(_canonical(arguments)))
        repeats = self.agent.max_repeats
        runs = self._enclosing()
        with contextlib.ExitStack() as held:
            for run in runs:  # outermost first, the one order every nested run takes
                held.enter_context(run._lock)
            for run in reversed(runs):
                run._check_tool_calls(tool)
            count = self._repeats.get(key, 0) + 1
            if repeats is not None and count > repeats:
                from llmguard._guard.schema import shorten

                raise self._refuse(
                    LoopDetected, f"is looping: tool {tool!r} called {count} times with the "
                    f"same arguments {shorten(arguments)} (max_repeats={repeats})", tool=tool,
                    arguments=arguments, count=count, maximum=repeats, used=count - 1,
                    requested=1, limit="max_repeats",
                )  # fmt: skip
            self._repeats[key] = count
            for run in runs:
                run.tool_calls += 1

    def _check_tool_calls(self, tool: str) -> None:
        limit = self.agent.max_tool_calls
        if limit is not None and self.tool_calls >= limit:
            raise self._refuse(
                ToolCallLimitExceeded, f"made its max_tool_calls={limit} calls; {tool!r} "
                "was not called", limit="max_tool_calls", maximum=limit,
                used=self.tool_calls, requested=1,
            )  # fmt: skip

    def checkpoint(self) -> None:
        """Raise `TimeLimitExceeded` if the deadline of this run, or of a run it is
        nested in, has passed."""
        for run in self._enclosing():
            if run._deadline is not None and run._open:
                now = run.agent.clock()
                if now >= run._deadline:
                    raise run._timeout(now - run._started)

    def _timeout(self, elapsed: float) -> TimeLimitExceeded:
        limit = self.agent.timeout_s or 0.0
        return self._refuse(
            TimeLimitExceeded, f"ran past its deadline: timeout_s={limit}", limit="timeout_s",
            maximum=limit, used=elapsed,
        )  # fmt: skip

    def remaining_time(self) -> float | None:
        """Seconds left before the deadline; ``None`` without ``timeout_s``."""
        return None if self._deadline is None else max(0.0, self._deadline - self.agent.clock())

    def _arm(self) -> None:
        """Cancel the current task at the deadline (an async run)."""
        remaining, task = self.remaining_time(), asyncio.current_task()
        if remaining is not None and task is not None:
            self._task = task
            self._timer = asyncio.get_running_loop().call_later(remaining, self._fire, task)

    def _fire(self, task: asyncio.Task[Any]) -> None:
        self._fired = True  # the timer is cancelled before the task can end
        task.cancel()

    def _disarm(self, exc: BaseException | None) -> BaseException | None:
        """The exception to end with: a cancellation by the deadline becomes a timeout."""
        if self._timer is not None:
            self._timer.cancel()
        if not (self._fired and isinstance(exc, asyncio.CancelledError)):
            return exc
        uncancel = getattr(self._task, "uncancel", None)
        if uncancel is not None:  # pragma: no branch -- 3.11+: the cancellation is handled
            uncancel()
        return self._timeout(self.agent.clock() - self._started)

    def _check_not_open(self) -> None:
        # Entered again inside itself, it would be its own enclosing run.
        if self._open:
            raise ConfigurationError(
                f"agent run {self.name!r} is already open; nest a new lg.agent(...) instead"
            )

    def __enter__(self) -> Run:
        self._check_not_open()
        self._open = True
        self.span.__enter__()
        self.budget.__enter__()
        self._parent = _open_run()
        self._token = _run.set(self)
        self._open_token = open_run.set(self)
        return self

    def __exit__(self, *exc_info: Any) -> bool:
        return self._close(exc_info[1])

    def _result(self, result: R) -> R:
        if self.output is None:
            self.output = result
        return result

    async def __aenter__(self) -> Run:
        self._check_not_open()
        self._arm()
        return self.__enter__()

    async def __aexit__(self, *exc_info: Any) -> bool:
        final = self._disarm(exc_info[1])
        if self._close(final):
            return True
        if final is not None and final is not exc_info[1]:
            raise final from None
        return False

    def _end_step(self, exc: BaseException | None = None) -> None:
        opened, self._step_span = self._step_span, None
        if opened is None:
            return
        _mark(opened, exc)
        opened.end()
        active_span.set(self.span)

    def _close(self, exc: BaseException | None) -> bool:
        """End the run; whether ``exc`` is a limit to swallow (``on_limit="return"``)."""
        self._open = False
        self._end_step(exc)
        self.stop_reason = "completed" if exc is None else "error"
        # A limit of an enclosing run stops this one too, but is that run's to
        # describe (its state) and to return instead of raising.
        outside = isinstance(exc, LimitExceeded) and self._refused_outside(exc)
        if isinstance(exc, LimitExceeded):
            self.stop_reason = exc.limit
            if exc.trace_id is None:
                exc.trace_id = self.trace_id
            if exc.state is None and not outside:
                exc.state = self.state()
        _reset(open_run, self._open_token, self)
        _reset(_run, self._token, self)
        with self.agent._runs_lock:
            self.agent._runs.discard(self)
        self._block = None
        self.budget.__exit__(None, None, None)
        self.span.set_attributes({
            "steps": self.steps, "tool_calls": self.tool_calls, "stop_reason": self.stop_reason,
            "usage": {"total": self.budget.used}, "cost_usd": self.budget.cost_usd,
        })  # fmt: skip
        self.span.set_output(self.output)
        _mark(self.span, exc)
        self.span.__exit__(None, None, None)
        if isinstance(exc, LimitExceeded) and self.agent.on_limit == "return" and not outside:
            self._stopped_by = exc
            return True
        return False

    def stopped(self) -> AgentStopped:
        """The run's state and the limit that stopped it, once a limit was swallowed."""
        error = self._stopped_by
        assert error is not None, "stopped() is only called after a swallowed limit"
        return AgentStopped(self.state(), error)


# The run behind each refusal still alive (weakly, so a run that catches its refusals and
# goes on keeps none of them, nor their tracebacks).
_refusers: weakref.WeakKeyDictionary[LimitExceeded, Run] = weakref.WeakKeyDictionary()


def _reset(var: ContextVar[Any], token: Token[Any], run: Run) -> None:
    if var.get() is not run:
        # A run opened inside this one is innermost here (a generator's run closed
        # inside another run of its consumer): it restores its own parent when it
        # ends, and this one, ended, is skipped meanwhile.
        return
    try:
        var.reset(token)
    except ValueError:
        # Exited in another context than it was entered in (a generator closed by
        # another thread, or finalized by the event loop): restore the parent there.
        var.set(None if token.old_value is Token.MISSING else token.old_value)


def _mark(opened: Span, exc: BaseException | None) -> None:
    if isinstance(exc, LimitExceeded):
        opened.set_status("limit", str(exc))
        opened.error_type = type(exc).__qualname__
    elif exc is not None:
        opened.record_exception(exc)


class Agent(Generic[L]):
    """Limits for an agent loop: ``@lg.agent(max_steps=10)`` or ``with lg.agent(...) as run:``.

    Each decorated call or block is a run (an ``agent`` span); each `Run.step` (or
    iteration of `steps`) a ``step`` span. Limits are checked before the work they
    allow, and every `LimitExceeded` a run raises carries its `RunState` as ``.state``.

    Args:
        name: The agent's name (by default the function's qualified name).
        max_steps: Most steps a run may start.
        max_tool_calls: Most tool calls (``@lg.tool``) a run may make.
        max_tokens: Most tokens the run's guarded calls may use (a `Budget`: the call
            that would cross it is refused before it is made).
        max_cost_usd: Most US dollars the run's guarded calls may cost, likewise.
        timeout_s: Seconds the whole run may take. An async run is cancelled at the
            deadline; a sync one stops at its next step, tool call or guarded attempt.
        max_repeats: Most times one tool may be called with the same arguments, and
            most consecutive steps with an unchanged ``state``; more is a loop.
        on_limit: ``"raise"``, or ``"return"`` to end the run quietly: a decorated
            call then returns the `RunState`, a ``with`` block just exits.
        clock: Seconds, monotonic; injected by tests.
        unpriced: ``"allow"`` lets ``max_cost_usd`` admit calls of a model with no
            price (their tokens still count), as `lg.budget` does; by default they
            are refused before they are made.

    Raises ``ConfigurationError`` when an option is out of range.
    """

    @overload
    def __init__(
        self: Agent[Literal["raise"]],
        name: str | None = None,
        *,
        max_steps: int | None = None,
        max_tool_calls: int | None = None,
        max_tokens: int | None = None,
        max_cost_usd: float | None = None,
        timeout_s: float | None = None,
        max_repeats: int | None = None,
        on_limit: Literal["raise"] = "raise",
        clock: Callable[[], float] = time.monotonic,
        unpriced: Literal["refuse", "allow"] = "refuse",
    ) -> None: ...

    @overload
    def __init__(
        self: Agent[Literal["return"]],
        name: str | None = None,
        *,
        max_steps: int | None = None,
        max_tool_calls: int | None = None,
        max_tokens: int | None = None,
        max_cost_usd: float | None = None,
        timeout_s: float | None = None,
        max_repeats: int | None = None,
        on_limit: Literal["return"],
        clock: Callable[[], float] = time.monotonic,
        unpriced: Literal["refuse", "allow"] = "refuse",
    ) -> None: ...

    @overload
    def __init__(
        self: Agent[Any],
        name: str | None = None,
        *,
        max_steps: int | None = None,
        max_tool_calls: int | None = None,
        max_tokens: int | None = None,
        max_cost_usd: float | None = None,
        timeout_s: float | None = None,
        max_repeats: int | None = None,
        on_limit: OnLimit = "raise",
        clock: Callable[[], float] = time.monotonic,
        unpriced: Literal["refuse", "allow"] = "refuse",
    ) -> None: ...

    def __init__(
        self,
        name: str | None = None,
        *,
        max_steps: int | None = None,
        max_tool_calls: int | None = None,
        max_tokens: int | None = None,
        max_cost_usd: float | None = None,
        timeout_s: float | None = None,
        max_repeats: int | None = None,
        on_limit: OnLimit = "raise",
        clock: Callable[[], float] = time.monotonic,
        unpriced: Literal["refuse", "allow"] = "refuse",
    ) -> None:
        if name is not None and not isinstance(name, str):
            if callable(name):
                raise ConfigurationError(
                    f"@lg.agent needs parentheses: @lg.agent() or @lg.agent(max_steps=...) "
                    f"above {getattr(name, '__qualname__', name)!r}"
                )
            raise ConfigurationError(f"an agent's name must be a string, not {name!r}")
        counts = {"max_steps": max_steps, "max_tool_calls": max_tool_calls}
        for option, value in {**counts, "max_repeats": max_repeats}.items():
            if value is not None and (type(value) is not int or value < 1):
                raise ConfigurationError(f"{option} must be an int >= 1 or None, not {value!r}")
        number = isinstance(timeout_s, (int, float)) and not isinstance(timeout_s, bool)
        if timeout_s is not None and (not number or not as_seconds(timeout_s) > 0):  # NaN too
            raise ConfigurationError(f"timeout_s must be a number > 0 or None, not {timeout_s!r}")
        if on_limit not in ("raise", "return"):
            raise ConfigurationError(f"on_limit must be 'raise' or 'return', not {on_limit!r}")
        if not callable(clock):
            raise ConfigurationError(f"clock must be a callable, not {clock!r}")
        Budget(max_tokens=max_tokens, max_cost_usd=max_cost_usd, unpriced=unpriced)  # checks
        self.name, self.max_steps, self.max_tool_calls = name, max_steps, max_tool_calls
        self.max_tokens, self.max_cost_usd = max_tokens, max_cost_usd
        self.timeout_s, self.max_repeats, self.on_limit = timeout_s, max_repeats, on_limit
        self.clock, self.unpriced = clock, unpriced
        # The runs open in a ``with`` block, for a block that exits in another context.
        self._runs: weakref.WeakSet[Run] = weakref.WeakSet()
        self._runs_lock = threading.Lock()  # threads enter one agent at once

    def __repr__(self) -> str:
        return f"Agent(name={self.name!r}, max_steps={self.max_steps}, on_limit={self.on_limit!r})"

    def __enter__(self) -> Run:
        return self._opened(Run(self, self.name or "agent").__enter__())

    def __exit__(self, *exc_info: Any) -> bool:
        return _own_run(self, sys._getframe(1), exc_info[2]).__exit__(*exc_info)

    async def __aenter__(self) -> Run:
        return self._opened(await Run(self, self.name or "agent").__aenter__())

    async def __aexit__(self, *exc_info: Any) -> bool:
        block = sys._getframe(1)  # the awaiting frame: the block's
        return await _own_run(self, block, exc_info[2]).__aexit__(*exc_info)

    def _opened(self, run: Run) -> Run:
        run._block = sys._getframe(2)  # the block's frame (under __enter__/__aenter__)
        with self._runs_lock:
            self._runs.add(run)
        return run

    @overload
    def __call__(
        self: Agent[Literal["return"]], fn: Callable[P, Coroutine[Any, Any, R]], /
    ) -> Callable[P, Coroutine[Any, Any, R | AgentStopped]]: ...

    @overload
    def __call__(
        self: Agent[Literal["return"]], fn: Callable[P, R], /
    ) -> Callable[P, R | AgentStopped]: ...

    @overload
    def __call__(self: Agent[Literal["raise"]], fn: Callable[P, R], /) -> Callable[P, R]: ...

    def __call__(self, fn: Callable[P, Any], /) -> Callable[P, Any]:
        """Make each call of ``fn`` (a function or coroutine function) one run.

        Raises:
            ConfigurationError: ``fn`` is not a function, or is a generator function.
        """
        target = unwrap_callable(fn)
        if not callable(target):
            raise ConfigurationError(f"lg.agent can decorate a function, not {fn!r}")
        if call_kind(fn) in (CallKind.GENERATOR, CallKind.ASYNC_GENERATOR):
            raise ConfigurationError(f"lg.agent cannot decorate a generator function: {fn!r}")
        name = self.name or getattr(target, "__qualname__", None) or "agent"
        return wrap(fn, _AgentHandler(self, name))


def _own_run(owner: Agent[Any], block: FrameType, tb: Any) -> Run:
    """The run an agent's block is leaving.

    The open run entered in the block's frame (``block``), when there is one
    and the current context's run is not among them: a generator closed or finished in
    another context -- another thread, the event loop's finalizer, inside another run
    of the same agent -- leaves its block there. Otherwise the current context's run;
    then the open run entered in a frame the exception passes through, or the agent's
    only open run.
    """
    run = _open_run()
    if run is not None and run.agent is owner and run._block is block:
        return run  # the usual case, without reading every open run of the agent
    with owner._runs_lock:
        runs = list(owner._runs)
    entered_here = [r for r in runs if r._block is block and r._open]
    if len(entered_here) == 1 and entered_here[0] is not run:
        return entered_here[0]
    if run is not None and run.agent is owner:
        return run
    frames = set()
    while tb is not None:
        frames.add(id(tb.tb_frame))
        tb = tb.tb_next
    found = [r for r in runs if r._block is not None and id(r._block) in frames] or runs
    if len(found) != 1:
        raise RuntimeError("an agent's block exited in another context than it was entered in")
    return found[0]


class _AgentHandler:
    """The handler behind ``@lg.agent``: one run around each call."""

    def __init__(self, agent: Agent[Any], name: str) -> None:
        self.agent = agent
        self.name = name

    def call(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        with Run(self.agent, self.name) as run:
            return run._result(wrapped(*args, **kwargs))
        return run.stopped()  # a limit, swallowed with on_limit="return"

    async def acall(
        self, wrapped: Wrapped, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        async with Run(self.agent, self.name) as run:
            return run._result(await wrapped(*args, **kwargs))
        return run.stopped()

    def gen(self, *args: Any) -> Any:  # pragma: no cover -- refused at decoration
        raise TypeError("an agent run cannot wrap a generator function")

    agen = gen


agent = Agent


def current_run() -> Run | None:
    """The innermost agent run open in this context, if any."""
    return _open_run()


def _open_run() -> Run | None:
    # A generator's run shows in its consumer's context while it is suspended; when it
    # is closed in another context, the consumer's still names it, ended: skip it.
    run = _run.get()
    while run is not None and not run._open:
        run = run._parent
    return run


def steps() -> Iterator[int]:
    """Iterate the current run's steps: each iteration is `Run.step` (numbers from 1).

    Raises:
        RuntimeError: At the first iteration, when no agent run is open.
    """
    run = _open_run()
    if run is None:
        raise RuntimeError("lg.steps() needs an open agent run (lg.agent)")
    while True:
        yield run.step()


def on_tool_call(tool: str, arguments: Any) -> None:
    """Count a tool call against the current run, if any (called by ``@lg.tool``)."""
    run = _open_run()
    if run is not None:
        run.tool_call(tool, arguments)


def as_seconds(value: float) -> float:
    """``value`` as a float; an int past a float's range is not a number of seconds."""
    try:
        return float(value)
    except OverflowError:
        return math.nan
