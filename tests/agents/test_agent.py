"""Tests for lg.agent runs: step, tool-call, repeat, time and token limits, and their records."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

import llmguard as lg
from llmguard._agents.runs import (
    Agent,
    AgentStopped,
    Run,
    RunState,
    agent,
    current_run,
    on_tool_call,
    steps,
)
from llmguard._agents.tools import acall_tool, call_tool, tool
from llmguard._core.context import check_run
from llmguard._spend.budgets import active as active_budgets
from llmguard.exceptions import (
    BudgetExceeded,
    ConfigurationError,
    LimitExceeded,
    LoopDetected,
    StepLimitExceeded,
    TimeLimitExceeded,
    ToolCallLimitExceeded,
)
from llmguard.testing import FakeLLM, capture

pytestmark = pytest.mark.usefixtures("tiktoken_files")
MODEL = "gpt-4o-mini"
TURN = {"role": "user", "content": "Will it rain in Oslo tomorrow?"}


@tool
def lookup(city: str, days: int = 1) -> str:
    """Look a forecast up."""
    return f"{city}: sunny for {days} day(s)"


@tool
async def hang(seconds: float) -> str:
    """A tool that takes far too long."""
    await asyncio.sleep(seconds)
    return "late"


def fake_ask(llm: FakeLLM) -> Any:
    """A guarded function over ``llm``."""

    @lg.guard(model=MODEL, max_output_tokens=50)
    def ask(messages: list[Any], max_tokens: int | None = None) -> Any:
        return llm(model=MODEL, messages=messages, max_tokens=max_tokens)

    return ask


E = TypeVar("E", bound=LimitExceeded)


def stop(
    error: type[E], body: Callable[[Run], object], *name: str, **options: Any
) -> tuple[E, Run]:
    """Run ``body`` in ``with agent(*name, **options)``; the error it stops with, and the run."""
    opened: list[Run] = []

    def block() -> None:
        with agent(*name, **options) as run:
            opened.append(run)
            body(run)

    with pytest.raises(error) as stopped:
        block()
    return stopped.value, opened[0]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- steps ----------------------------------------------------------------------------------


def test_a_sync_decorated_agent_stops_at_max_steps_with_its_state() -> None:
    """A loop that never ends is stopped before step max_steps + 1, with its partial state."""

    @agent("planner", max_steps=3)
    def plan() -> None:
        for number in steps():
            current = current_run()
            assert current is not None
            current.set_output(f"draft {number}")

    with pytest.raises(StepLimitExceeded) as stopped:
        plan()

    error = stopped.value
    assert (error.limit, error.maximum, error.used, error.name) == ("max_steps", 3, 3, "planner")
    state = error.state
    assert isinstance(state, RunState)
    assert (state.steps, state.tool_calls, state.output) == (3, 0, "draft 3")
    assert state.stop_reason == "max_steps"
    assert state.trace_id == error.trace_id
    assert state.trace_id is not None
    assert current_run() is None


async def test_an_async_decorated_agent_stops_at_max_steps() -> None:
    """The async decorator stops at max_steps the same way."""

    @agent(max_steps=2)
    async def plan() -> None:
        for _ in steps():
            await asyncio.sleep(0)

    with pytest.raises(StepLimitExceeded) as stopped:
        await plan()
    assert stopped.value.state is not None
    assert stopped.value.state.steps == 2
    assert stopped.value.state.name.endswith("plan")


def test_the_context_manager_yields_a_run_and_stops_at_max_steps() -> None:
    """``with`` gives the run; its counters and stop reason are readable afterwards."""

    def body(run: Run) -> None:
        assert isinstance(run, Run)
        assert run.remaining_steps == 2
        assert run.step() == 1
        assert run.remaining_steps == 1
        run.step()
        run.step()

    error, run = stop(StepLimitExceeded, body, max_steps=2)
    assert (run.steps, run.remaining_steps, run.stop_reason) == (2, 0, "max_steps")
    assert error.state is not None
    assert error.state.steps == 2


async def test_async_with_stops_at_max_steps() -> None:
    """``async with`` stops at max_steps too."""
    opened = agent(max_steps=1)

    async def block() -> None:
        async with opened:
            for _ in steps():
                await asyncio.sleep(0)

    with pytest.raises(StepLimitExceeded) as stopped:
        await block()
    assert stopped.value.state is not None
    assert stopped.value.state.stop_reason == "max_steps"


def test_a_run_that_finishes_reports_completed() -> None:
    """A run within its limits ends as completed, its result kept as output."""

    @agent(max_steps=5)
    def plan() -> str:
        for number in steps():
            if number == 2:
                return "done"
        raise AssertionError("unreachable")  # pragma: no cover

    with capture() as records:
        assert plan() == "done"
    [record] = [r for r in records if r.kind == "agent"]
    assert record.status == "ok"
    assert record.metadata["stop_reason"] == "completed"
    assert record.metadata["steps"] == 2
    with agent() as run:
        assert run.remaining_steps is None
    assert run.stop_reason == "completed"


def test_steps_needs_an_open_run() -> None:
    """lg.steps() outside a run raises at the first iteration."""
    with pytest.raises(RuntimeError, match="open agent run"):
        next(steps())


# -- on_limit="return" ----------------------------------------------------------------------


def test_on_limit_return_gives_the_state_instead_of_raising() -> None:
    """The decorated call returns a falsy AgentStopped; the with block exits quietly."""

    @agent(max_steps=2, on_limit="return")
    def plan() -> str:
        for number in steps():
            current_run().set_output(number)  # type: ignore[union-attr]
        return "never"  # pragma: no cover

    stopped = plan()
    assert isinstance(stopped, AgentStopped)
    assert not stopped
    assert isinstance(stopped.error, StepLimitExceeded)
    state = stopped.state
    assert (state.steps, state.output, state.stop_reason) == (2, 2, "max_steps")

    with agent(max_steps=1, on_limit="return") as run:
        for _ in steps():
            pass
    assert run.stop_reason == "max_steps"


async def test_on_limit_return_for_async_runs() -> None:
    """An async decorated call and an async with block return / exit quietly too."""

    @agent(max_steps=1, on_limit="return")
    async def plan() -> str:
        for _ in steps():
            await asyncio.sleep(0)
        return "never"  # pragma: no cover

    stopped = await plan()
    assert isinstance(stopped, AgentStopped)
    assert stopped.state.stop_reason == "max_steps"
    async with agent(max_steps=1, on_limit="return") as run:
        run.step()
        run.step()
    assert run.stop_reason == "max_steps"


def test_other_errors_propagate_and_mark_the_run_failed() -> None:
    """An error of the agent's own code is not swallowed, even with on_limit="return"."""

    @agent(on_limit="return")
    def plan() -> None:
        steps().__next__()
        raise KeyError("boom")

    with capture() as records, pytest.raises(KeyError):
        plan()
    kinds = {r.kind: r for r in records}
    assert kinds["agent"].status == "error"
    assert kinds["step"].status == "error"
    assert kinds["agent"].metadata["stop_reason"] == "error"


# -- tool calls ---------------------------------------------------------------------------


def test_tool_calls_count_against_max_tool_calls() -> None:
    """The call past max_tool_calls is refused before the tool runs."""

    def body(run: Run) -> None:
        lookup("Oslo")
        lookup("Paris")
        assert run.tool_calls == 2
        lookup("Rome")

    error, run = stop(ToolCallLimitExceeded, body, max_tool_calls=2)
    assert (error.limit, error.maximum, error.used) == ("max_tool_calls", 2, 2)
    assert error.state is not None
    assert error.state.tool_calls == 2
    assert run.stop_reason == "max_tool_calls"


def test_tools_outside_a_run_are_not_counted() -> None:
    """With no run open, the hook does nothing."""
    assert lookup("Oslo") == "Oslo: sunny for 1 day(s)"


def test_a_repeated_tool_call_is_stopped_on_call_max_repeats_plus_one() -> None:
    """Key order and whitespace don't matter; different arguments don't trip the check."""

    def body(run: Run) -> None:
        call_tool([lookup], "lookup", '{"city": "Oslo", "days": 2}')
        call_tool([lookup], "lookup", '{"city": "Paris", "days": 2}')
        call_tool([lookup], "lookup", {"days": 2, "city": "Oslo"})
        assert run.tool_calls == 3
        call_tool([lookup], "lookup", '{ "days":2,"city":"Oslo" }')

    error, _ = stop(LoopDetected, body, max_repeats=2)
    assert (error.tool, error.arguments, error.count) == ("lookup", {"city": "Oslo", "days": 2}, 3)
    assert (error.limit, error.maximum) == ("max_repeats", 2)
    assert error.state is not None
    assert (error.state.tool_calls, error.state.stop_reason) == (3, "max_repeats")


def test_an_unchanged_state_is_a_loop() -> None:
    """The same state for max_repeats consecutive steps raises; a change resets the count."""

    def body(run: Run) -> None:
        run.step(state={"a": 1, "b": [1]})
        run.step(state={"b": [1], "a": 1})
        run.step(state={"a": 2})
        run.step(state={"a": 2})
        run.step(state={"a": 2})

    error, _ = stop(LoopDetected, body, max_repeats=2)
    assert (error.tool, error.arguments, error.count) == (None, {"a": 2}, 3)
    assert error.state is not None
    assert error.state.steps == 4


# -- deadlines ----------------------------------------------------------------------------


def test_a_sync_run_stops_at_the_next_step_after_its_deadline() -> None:
    """With an injected clock: a step after the deadline raises TimeLimitExceeded."""
    clock = Clock()

    def body(run: Run) -> None:
        run.step()
        clock.now += 4
        assert run.remaining_time() == pytest.approx(1)
        run.step()
        clock.now += 2
        run.step()

    error, _ = stop(TimeLimitExceeded, body, timeout_s=5, clock=clock)
    assert (error.limit, error.maximum, error.used) == ("timeout_s", 5, 6)
    assert error.state is not None
    assert (error.state.steps, error.state.stop_reason) == (2, "timeout_s")


def test_a_sync_run_stops_at_a_tool_call_or_guarded_call_after_its_deadline() -> None:
    """Tool calls and guarded attempts check the deadline; the model is not called."""
    clock = Clock()

    def late_tool(run: Run) -> None:
        clock.now += 2
        lookup("Oslo")

    def late_call(run: Run) -> None:
        clock.now += 2
        ask([TURN])

    stop(TimeLimitExceeded, late_tool, timeout_s=1, clock=clock)
    llm = FakeLLM(["never sent"], model=MODEL)
    ask = fake_ask(llm)
    with capture() as records:
        stop(TimeLimitExceeded, late_call, timeout_s=1, clock=clock)
    assert llm.calls == []
    assert {r.kind: r.status for r in records}["attempt"] == "limit"


async def test_an_async_run_is_cancelled_at_its_deadline() -> None:
    """A hanging tool is cancelled in time; its span ends in error; nothing leaks."""

    @agent(timeout_s=0.05)
    async def slow() -> None:
        for _ in steps():
            await hang(10)

    started = time.monotonic()
    with capture() as records, pytest.raises(TimeLimitExceeded) as stopped:
        await slow()
    elapsed = time.monotonic() - started
    assert elapsed < 0.05 * 1.1 + 0.05
    assert stopped.value.state is not None
    assert stopped.value.state.stop_reason == "timeout_s"
    status = {r.kind: r.status for r in records}
    assert status == {"tool": "error", "step": "limit", "agent": "limit"}
    assert current_run() is None
    assert lg.current_span() is None
    assert active_budgets() == ()
    assert len(asyncio.all_tasks()) == 1


async def test_async_with_is_cancelled_at_its_deadline() -> None:
    """The async context manager cancels its block at the deadline as well."""
    with pytest.raises(TimeLimitExceeded):
        async with agent(timeout_s=0.05) as run:
            await acall_tool([hang], "hang", {"seconds": 10})
    assert run.stop_reason == "timeout_s"
    async with agent(timeout_s=5, on_limit="return") as quick:
        await asyncio.sleep(0)
    assert quick.stop_reason == "completed"


async def test_a_cancellation_not_by_the_deadline_propagates() -> None:
    """A task cancelled from outside stays cancelled, not a time limit."""

    @agent(timeout_s=5)
    async def slow() -> None:
        await asyncio.sleep(10)

    task = asyncio.ensure_future(slow())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# -- usage --------------------------------------------------------------------------------


def test_a_guarded_call_in_a_run_charges_the_run_and_enclosing_budgets() -> None:
    """run.usage and run.cost_usd come from the run's budget, charged with the outer one."""
    llm = FakeLLM(["Rain.", "Sun."], model=MODEL)
    ask = fake_ask(llm)
    with lg.budget(max_tokens=10_000) as outer, agent(max_cost_usd=1.0) as run:
        run.step()
        first = ask([TURN])
        with agent("inner") as inner:
            inner.step()
            second = ask([TURN])
    used = first.usage.total_tokens + second.usage.total_tokens
    assert inner.usage == second.usage.total_tokens
    assert run.usage == outer.used == used
    assert run.cost_usd > 0
    assert (run.steps, inner.steps) == (1, 1)


def test_the_runs_max_tokens_refuses_the_call_that_would_cross_it() -> None:
    """A nested run's call past its parent's max_tokens is refused, with the state of
    the parent, whose limit it is (the child stops too)."""
    llm = FakeLLM(["never sent"], model=MODEL)
    ask = fake_ask(llm)

    def body(run: Run) -> None:
        with agent("child"):
            ask([TURN])

    error, run = stop(BudgetExceeded, body, "parent", max_tokens=20)
    assert llm.calls == []
    assert error.state is not None
    assert error.state.name == "parent"
    assert error.state.stop_reason == "max_tokens"
    assert run.stop_reason == "max_tokens"
    assert run.usage == 0


# -- records ------------------------------------------------------------------------------


def test_agent_step_tool_and_llm_records_nest() -> None:
    """Steps are children of the agent span; tools and llm calls of their step."""
    llm = FakeLLM(["Rain."], model=MODEL)
    ask = fake_ask(llm)

    @agent("weather", max_steps=2, on_limit="return")
    def run_agent() -> None:
        for number in steps():
            if number == 1:
                lookup("Oslo")
            else:
                ask([TURN])

    with capture() as records:
        run_agent()
    by_kind: dict[str, list[Any]] = {}
    for record in records:
        by_kind.setdefault(record.kind, []).append(record)
    [root] = by_kind["agent"]
    assert (root.name, root.parent_id, root.status) == ("weather", None, "limit")
    assert root.metadata["operation"] == "invoke_agent"
    assert root.error_type == "StepLimitExceeded"
    first, second = by_kind["step"]
    assert (first.name, second.name) == ("step 1", "step 2")
    assert {first.parent_id, second.parent_id} == {root.span_id}
    [tool_record] = by_kind["tool"]
    assert tool_record.parent_id == first.span_id
    [llm_record] = by_kind["llm"]
    assert llm_record.parent_id == second.span_id
    assert {r.trace_id for r in records} == {root.trace_id}


# -- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"max_steps": 0},
        {"max_tool_calls": True},
        {"max_repeats": 1.5},
        {"timeout_s": 0},
        {"timeout_s": "1"},
        {"on_limit": "ignore"},
        {"clock": 3},
        {"max_tokens": -1},
    ],
)
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    """Each out-of-range option raises ConfigurationError at once."""
    with pytest.raises(ConfigurationError):
        agent(**options)


def test_bad_names_and_targets_are_refused() -> None:
    """A non-string name, a non-callable and a generator function are misuse."""

    def numbers() -> Iterator[int]:
        yield 1  # pragma: no cover

    with pytest.raises(ConfigurationError):
        agent(3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        agent()(5)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        agent()(numbers)
    assert "max_steps=4" in repr(Agent(max_steps=4))


def test_the_hooks_do_nothing_outside_a_run() -> None:
    """Tool and attempt hooks are no-ops with no run; exiting a run not open is misuse."""
    on_tool_call("lookup", {"city": "Oslo"})
    check_run()
    with pytest.raises(RuntimeError, match="another context"):
        agent().__exit__(None, None, None)


def test_limit_errors_are_limit_exceeded_and_reprs_read() -> None:
    """The new errors sit under LimitExceeded; a run's repr names its counters."""
    for cls in (StepLimitExceeded, ToolCallLimitExceeded, LoopDetected, TimeLimitExceeded):
        assert issubclass(cls, LimitExceeded)
    with agent("r") as run:
        assert repr(run) == "Run(name='r', steps=0, tool_calls=0)"
        assert run.remaining_time() is None


def test_an_output_set_by_the_agent_is_kept_over_its_result() -> None:
    """run.set_output wins over the function's return value as the run's output."""

    @agent()
    def plan() -> str:
        current_run().set_output("answer")  # type: ignore[union-attr]
        return "raw"

    with capture() as records:
        assert plan() == "raw"
    [record] = records
    assert record.output == "answer"
