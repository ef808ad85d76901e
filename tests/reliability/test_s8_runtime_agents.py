"""Review attacks on agents: how an agent is named, and the bare decorator."""

from __future__ import annotations

import pytest

import llmguard as lg
from llmguard.exceptions import ConfigurationError
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
