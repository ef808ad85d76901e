"""An agent's return type follows ``on_limit``, and a tool method keeps its signature.

tests/test_typing.py runs mypy --strict over this directory; the functions also run.
"""

from __future__ import annotations

from typing_extensions import assert_type

import llmguard as lg
from llmguard import AgentStopped


def test_an_agent_that_raises_returns_the_functions_type() -> None:
    """With the default on_limit="raise", a limit raises, so the result is the function's."""

    @lg.agent(max_steps=2)
    def plan(goal: str) -> str:
        return goal.upper()

    assert_type(plan("ship"), str)
    assert plan("ship") == "SHIP"


def test_an_agent_that_returns_on_a_limit_may_return_agent_stopped() -> None:
    """With on_limit="return", a caller must handle AgentStopped too."""

    @lg.agent(max_steps=1, on_limit="return")
    def plan(goal: str) -> str:
        for _ in lg.steps():
            pass
        return goal

    result = plan("ship")
    assert_type(result, str | AgentStopped)
    assert isinstance(result, AgentStopped)


async def test_an_async_agent_that_returns_on_a_limit_awaits_to_either() -> None:
    """The async form keeps the same union under await."""

    @lg.agent(max_steps=3, on_limit="return")
    async def plan(goal: str) -> str:
        return goal

    result = await plan("ship")
    assert_type(result, str | AgentStopped)
    assert result == "ship"


def test_a_tool_method_keeps_its_signature_without_self() -> None:
    """A tool on a method, read from an instance, takes the arguments after self."""

    class Search:
        @lg.tool
        def find(self, query: str, limit: int = 2) -> list[str]:
            return [query] * limit

    found = Search().find("llm", limit=1)
    assert_type(found, list[str])
    assert found == ["llm"]
    assert Search().find.definition()["function"]["name"] == "find"
