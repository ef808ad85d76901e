"""Nested agents attacked further: an enclosing run's budget with the same name and cap
as the inner one's, and refusals a run catches and goes on from."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest

import llmguard as lg
from llmguard.testing import FakeLLM


@lg.tool
def search(query: str) -> str:
    """Look something up."""
    return f"found {query}"


def test_an_outer_budget_twin_of_the_inner_one_is_not_swallowed() -> None:
    """Outer and inner agents share the name and ``max_tokens``: the outer's refusal of
    a call made in the inner (which had room) stops the outer, not just the inner (the
    name and cap told them apart, so the inner returned the outer's refusal)."""
    llm = FakeLLM(["ok"] * 20, model="gpt-4o-mini")
    returned: list[Any] = []

    @lg.guard(model="gpt-4o-mini", max_output_tokens=50)
    def ask(messages: list[dict[str, Any]], max_tokens: int | None = None) -> Any:
        return llm(model="gpt-4o-mini", messages=messages, max_tokens=max_tokens)

    @lg.agent(name="twin", max_tokens=300, on_limit="return")
    def inner() -> str:
        for _ in range(5):
            ask([{"role": "user", "content": "hi " * 60}])
        return "done"

    @lg.agent(name="twin", max_tokens=300, on_limit="return")
    def outer() -> str:
        ask([{"role": "user", "content": "hi " * 60}])
        returned.append(inner())
        return "finished"

    stopped = outer()
    assert returned == []
    assert isinstance(stopped, lg.AgentStopped)
    assert isinstance(stopped.error, lg.BudgetExceeded)
    assert (stopped.error.name, stopped.error.limit, stopped.error.maximum) == (
        "twin", "max_tokens", 300,
    )  # fmt: skip
    assert stopped.state.stop_reason == "max_tokens"
    assert stopped.state.tokens > 0  # the outer run's own state


def test_the_inner_budget_s_own_refusal_is_still_the_inner_s() -> None:
    """The same twins, the inner budget refusing first: the inner returns it, and the
    outer goes on to finish."""
    llm = FakeLLM(["ok"] * 20, model="gpt-4o-mini")
    returned: list[Any] = []

    @lg.guard(model="gpt-4o-mini", max_output_tokens=50)
    def ask(messages: list[dict[str, Any]], max_tokens: int | None = None) -> Any:
        return llm(model="gpt-4o-mini", messages=messages, max_tokens=max_tokens)

    @lg.agent(name="twin", max_tokens=300, on_limit="return")
    def inner() -> str:
        for _ in range(5):
            ask([{"role": "user", "content": "hi " * 60}])
        return "done"

    @lg.agent(name="twin", max_tokens=100_000, on_limit="return")
    def outer() -> str:
        returned.append(inner())
        return "finished"

    assert outer() == "finished"
    assert len(returned) == 1
    assert isinstance(returned[0], lg.AgentStopped)
    assert returned[0].state.stop_reason == "max_tokens"


def test_a_run_keeps_no_refusal_it_caught() -> None:
    """A refusal the agent catches and goes on from is freed with its traceback while
    the run is still open (the run kept every one until it ended)."""
    with lg.agent("looping", max_repeats=1, max_tool_calls=50) as run:
        search(query="same")
        refs = []
        for _ in range(3):
            try:
                search(query="same")
            except lg.LoopDetected as exc:
                refs.append(weakref.ref(exc))
        gc.collect()
        assert len(refs) == 3
        assert [ref() for ref in refs] == [None, None, None]
        assert run.tool_calls == 1


def test_an_outer_refusal_raised_in_an_inner_run_still_escapes_it() -> None:
    """The outer ``max_tool_calls`` refusal in an inner ``on_limit="return"`` agent is
    the outer's, kept weakly: it still is when the collector ran in between."""

    @lg.agent(name="inner", on_limit="return")
    def inner() -> None:
        for number in range(5):
            search(query=f"q{number}")
            gc.collect()

    @lg.agent(name="outer", max_tool_calls=2)
    def outer() -> None:
        inner()

    with pytest.raises(lg.ToolCallLimitExceeded) as caught:
        outer()
    assert caught.value.name == "outer"
    assert caught.value.state is not None
    assert caught.value.state.name == "outer"


def test_a_run_entered_again_inside_itself_is_refused_not_hung() -> None:
    """``with run:`` inside the same open run made it its own enclosing run, and the
    next tool call walked that loop forever; it is a `ConfigurationError` at once, and
    the run goes on."""
    with lg.agent("again", max_tool_calls=5) as run:
        with pytest.raises(lg.ConfigurationError, match="already open"), run:
            pass  # pragma: no cover - never entered
        assert search(query="a") == "found a"
    assert run.tool_calls == 1
    assert run.stop_reason == "completed"


async def test_an_async_run_entered_again_is_refused() -> None:
    """The same from ``async with``, the deadline timer not armed twice."""
    async with lg.agent("again", timeout_s=30) as run:
        with pytest.raises(lg.ConfigurationError, match="already open"):
            async with run:
                pass  # pragma: no cover - never entered
    assert run.stop_reason == "completed"
