"""Review attacks on agents: how an agent is named, and the bare decorator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import llmguard as lg
from llmguard.exceptions import ConfigurationError
from llmguard.testing import FakeLLM
from tests.conftest import ListSink


def test_an_agent_can_be_named_by_keyword(sink: ListSink) -> None:
    """``lg.agent(name=...)``, as ``lg.trace`` and ``lg.guard`` take it, names the run."""

    @lg.agent(name="planner", max_steps=2, on_limit="return")
    def plan() -> str:
        for _ in lg.steps():
            pass
        return "never"

    stopped = plan()
    assert isinstance(stopped, lg.AgentStopped)
    with lg.agent(name="block", max_steps=1) as run:
        run.step()
    assert lg.flush(timeout=10).complete
    assert [r.name for r in sink.records if r.kind == "agent"] == ["planner", "block"]


def test_the_bare_decorator_is_refused_with_a_message_that_says_so() -> None:
    """``@lg.agent`` without parentheses is a ConfigurationError that names the fix,
    not a complaint that the agent's name is not a string."""

    def research() -> str:
        return "done"

    with pytest.raises(ConfigurationError, match=r"@lg\.agent\(\)") as caught:
        lg.agent(research)  # type: ignore[call-overload]
    assert "research" in str(caught.value)


class ReprRaises:
    """An argument whose ``repr`` raises."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def _cycle() -> list[Any]:
    looped: list[Any] = []
    looped.append(looped)
    return looped


def _deep() -> list[Any]:
    deep: list[Any] = []
    for _ in range(50_000):
        deep = [deep]
    return deep


AWKWARD = [
    pytest.param(lambda: {1: "a", "b": 2}, id="mixed-key-types"),
    pytest.param(lambda: {(1, 2): "tuple key"}, id="tuple-key"),
    pytest.param(_cycle, id="cycle"),
    pytest.param(ReprRaises, id="repr-raises"),
    pytest.param(lambda: 10**5000, id="int-too-long-to-print"),
    pytest.param(_deep, id="50k-deep"),
]


@pytest.mark.parametrize("make", AWKWARD)
def test_a_tool_called_with_awkward_arguments_inside_a_run_still_runs(
    make: Callable[[], Any],
) -> None:
    """Loop detection reads any arguments: the tool runs inside a run as outside one,
    and the calls are counted."""
    value = make()
    seen: list[Any] = []

    @lg.tool
    def keep(x: Any) -> str:
        seen.append(x)
        return "kept"

    with lg.agent("awkward", max_repeats=5, max_tool_calls=10) as run:
        assert keep(value) == "kept"
        assert keep(value) == "kept"
    assert run.tool_calls == 2
    assert len(seen) == 2
    assert seen[0] is value


def test_repeats_of_arguments_json_cannot_sort_are_still_detected() -> None:
    """The same awkward arguments, called again and again, are still a loop."""

    @lg.tool
    def keep(x: Any) -> str:
        return "kept"

    with lg.agent("looping", max_repeats=2):
        keep({1: "a", "b": 2})
        keep({"b": 2, 1: "a"})
        with pytest.raises(lg.LoopDetected):
            keep({1: "a", "b": 2})


@pytest.mark.parametrize("make", AWKWARD)
def test_a_step_state_json_cannot_read_is_compared_all_the_same(
    make: Callable[[], Any],
) -> None:
    """``run.step(state=...)`` takes any state without raising."""
    with lg.agent("stateful", max_repeats=5) as run:
        run.step(state=make())
        run.step(state=make())
    assert run.steps == 2


def test_an_agent_with_a_dollar_cap_can_allow_models_without_a_price() -> None:
    """``lg.agent(max_cost_usd=..., unpriced="allow")`` admits a local model's calls
    (the refusal tells the user to allow them); tokens are still counted."""
    llm = FakeLLM(["ok"] * 4, model="my-local-llama")

    @lg.guard(model="my-local-llama", max_output_tokens=50)
    def ask(messages: list[dict[str, Any]], max_tokens: int | None = None) -> Any:
        return llm(model="my-local-llama", messages=messages, max_tokens=max_tokens)

    def run() -> Any:
        return ask([{"role": "user", "content": "hi"}])

    refused = lg.agent("strict", max_cost_usd=1.0, on_limit="return")(run)()
    assert isinstance(refused, lg.AgentStopped)
    assert "unpriced='allow'" in str(refused.error)
    with lg.agent("local", max_cost_usd=1.0, unpriced="allow") as allowed:
        assert run().choices[0].message.content == "ok"
    assert allowed.usage > 0
    assert allowed.budget.unpriced_calls == 1
    with pytest.raises(ConfigurationError, match="unpriced"):
        lg.agent(unpriced="sometimes")  # type: ignore[call-overload]
