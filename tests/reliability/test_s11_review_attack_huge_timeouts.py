"""timeout_s given as an int too large for a float (10**400).

Session 11 refused NaN at construction. An int past a float's range passed the same
check and raised OverflowError from inside the run or the tool call instead.
"""

from __future__ import annotations

import pytest

import llmguard as lg
from llmguard.exceptions import ConfigurationError


def test_an_agent_with_a_timeout_past_a_float_is_refused_at_construction() -> None:
    """lg.agent(timeout_s=10**400) is a ConfigurationError naming the option."""
    with pytest.raises(ConfigurationError, match="timeout_s"):
        lg.agent("huge", max_steps=3, timeout_s=10**400)


def test_a_tool_with_a_timeout_past_a_float_is_refused_at_decoration() -> None:
    """@lg.tool(timeout_s=10**400) is a ConfigurationError naming the option."""
    with pytest.raises(ConfigurationError, match="timeout_s"):

        @lg.tool(timeout_s=10**400)
        async def lookup(key: str) -> str:
            """Look a key up."""
            return key


def test_a_large_int_timeout_that_fits_a_float_still_runs() -> None:
    """timeout_s=10**6 (an int) is accepted and a run under it ends normally."""
    with lg.agent("fits", max_steps=3, timeout_s=10**6) as run:
        run.step()
    assert run.steps == 1
