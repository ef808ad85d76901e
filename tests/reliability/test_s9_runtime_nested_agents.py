"""Tool calls made inside a nested agent count against every enclosing agent's
``max_tool_calls``, as its tokens and cost already did ("Nested agents and guarded calls
charge their parents automatically"). Steps do not nest: each agent counts its own."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import llmguard as lg
from llmguard.testing import FakeLLM
from tests.conftest import ListSink


@lg.tool
def search(query: str) -> str:
    """Look something up."""
    return f"found {query}"


@lg.tool
async def asearch(query: str) -> str:
    """Look something up, asynchronously."""
    return f"found {query}"


def test_the_outer_limit_trips_on_the_inner_agent_s_third_tool_call(sink: ListSink) -> None:
    """Outer ``max_tool_calls=2``, inner unlimited: the inner's third call is refused
    by the outer run, with the outer's name, limit, counts and state."""
    made: list[str] = []

    @lg.agent(name="inner", max_steps=10)
    def inner() -> None:
        for number in lg.steps():
            made.append(search(query=f"q{number}"))

    @lg.agent(name="outer", max_tool_calls=2)
    def outer() -> None:
        lg.current_run().step()  # type: ignore[union-attr]
        inner()

    with pytest.raises(lg.ToolCallLimitExceeded) as caught:
        outer()
    error = caught.value
    assert made == ["found q1", "found q2"]
    assert (error.name, error.limit, error.maximum, error.used, error.requested) == (
        "outer", "max_tool_calls", 2, 2, 1,
    )  # fmt: skip
    assert error.state is not None
    assert (error.state.name, error.state.tool_calls, error.state.steps) == ("outer", 2, 1)
    assert error.state.stop_reason == "max_tool_calls"
    assert lg.flush(timeout=10).complete
    agents = {r.name: r for r in sink.records if r.kind == "agent"}
    assert agents["outer"].status == agents["inner"].status == "limit"
    assert agents["outer"].metadata["tool_calls"] == 2
    assert agents["inner"].metadata["tool_calls"] == 2
    assert agents["inner"].metadata["steps"] == 3  # its own steps, not the outer's


def test_an_inner_agent_returning_on_its_limits_does_not_swallow_the_outer_s() -> None:
    """The inner agent's ``on_limit="return"`` is for its own limits: the outer's
    refusal still reaches the outer, which returns its own `AgentStopped`."""

    @lg.agent(name="inner", on_limit="return")
    def inner() -> str:
        for i in range(5):
            search(query=f"q{i}")
        return "done"

    @lg.agent(name="outer", max_tool_calls=3, on_limit="return")
    def outer() -> str:
        search(query="first")
        inner()
        return "never"

    stopped = outer()
    assert isinstance(stopped, lg.AgentStopped)
    assert (stopped.error.name, stopped.state.name, stopped.state.tool_calls) == (
        "outer", "outer", 3,
    )  # fmt: skip


def _nested(outer_limit: int, inner_limit: int, calls: int, runs: list[lg.Run]) -> None:
    with lg.agent("outer", max_tool_calls=outer_limit) as outer:
        runs.append(outer)
        with lg.agent("inner", max_tool_calls=inner_limit) as inner:
            runs.append(inner)
            for i in range(calls):
                search(query=f"q{i}")


def test_a_refused_call_counts_in_no_run() -> None:
    """The refusal leaves every run's count as it was: the inner run's count is not
    raised by a call the outer refused."""
    runs: list[lg.Run] = []
    with pytest.raises(lg.ToolCallLimitExceeded) as caught:
        _nested(outer_limit=1, inner_limit=5, calls=2, runs=runs)
    assert caught.value.name == "outer"
    assert [run.tool_calls for run in runs] == [1, 1]


def test_the_inner_limit_still_reports_the_inner_run() -> None:
    """When the inner agent's own limit is the one crossed, the error is the inner's."""
    runs: list[lg.Run] = []
    with pytest.raises(lg.ToolCallLimitExceeded) as caught:
        _nested(outer_limit=10, inner_limit=1, calls=2, runs=runs)
    assert caught.value.name == "inner"
    assert caught.value.state is not None
    assert caught.value.state.name == "inner"
    assert [run.tool_calls for run in runs] == [1, 1]


def test_async_nested_agents_charge_the_outer_run() -> None:
    """The same in async code, with two inner runs as concurrent tasks: of the five
    calls, the one past the outer's four is refused (and only that one)."""

    @lg.agent(name="inner")
    async def inner(tag: str) -> None:
        for i in range(2):
            await asearch(query=f"{tag}{i}")

    @lg.agent(name="outer", max_tool_calls=4)
    async def outer() -> None:
        await asearch(query="first")
        await asyncio.gather(inner("a"), inner("b"))

    with pytest.raises(lg.ToolCallLimitExceeded) as caught:
        asyncio.run(outer())
    assert caught.value.name == "outer"
    assert caught.value.state is not None
    assert caught.value.state.tool_calls == 4


def test_the_outer_deadline_holds_inside_a_sync_inner_agent() -> None:
    """An outer ``timeout_s`` stops a sync inner agent at its next tool call."""
    now = [0.0]

    def clock() -> float:
        return now[0]

    def run() -> None:
        with lg.agent("outer", timeout_s=5, clock=clock), lg.agent("inner", clock=clock):
            search(query="early")
            now[0] = 6.0
            search(query="late")

    with pytest.raises(lg.TimeLimitExceeded) as caught:
        run()
    assert caught.value.name == "outer"
    assert caught.value.state is not None
    assert caught.value.state.name == "outer"


def test_an_outer_agent_s_token_budget_is_not_swallowed_by_the_inner_agent() -> None:
    """The outer agent's ``max_tokens`` refusing a guarded call made in an inner agent
    with ``on_limit="return"`` stops the outer run, which returns its own state (the
    inner run returned the refusal as its own, and the outer finished as if unlimited)."""
    llm = FakeLLM(["ok"] * 10, model="gpt-4o-mini")
    results: list[Any] = []

    @lg.guard(model="gpt-4o-mini", max_output_tokens=50)
    def ask(messages: list[dict[str, Any]], max_tokens: int | None = None) -> Any:
        return llm(model="gpt-4o-mini", messages=messages, max_tokens=max_tokens)

    @lg.agent(name="inner", max_tokens=10_000, on_limit="return")
    def inner() -> str:
        for _ in range(5):
            ask([{"role": "user", "content": "hi " * 60}])
        return "done"

    @lg.agent(name="outer", max_tokens=200, on_limit="return")
    def outer() -> str:
        results.append(inner())
        return "finished"

    stopped = outer()
    assert results == []
    assert isinstance(stopped, lg.AgentStopped)
    assert isinstance(stopped.error, lg.BudgetExceeded)
    assert (stopped.error.name, stopped.error.limit, stopped.error.maximum) == (
        "outer", "max_tokens", 200,
    )  # fmt: skip
    assert (stopped.state.name, stopped.state.stop_reason) == ("outer", "max_tokens")
