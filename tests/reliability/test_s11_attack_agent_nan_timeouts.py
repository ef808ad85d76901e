"""``timeout_s=nan``: a deadline no clock reading is past, and none before.

NaN compares false with everything: an async run armed a timer of ``max(0, nan) == 0``
and was stopped at once, a sync run never; an async tool timed out at once. Either
way it is not a number of seconds, and is refused at construction like ``-1``.
"""

from __future__ import annotations

import asyncio
import math

import pytest

import llmguard as lg
from llmguard.exceptions import ConfigurationError


@pytest.mark.parametrize("timeout", [math.nan, -math.nan])
def test_an_agent_refuses_a_nan_timeout(timeout: float) -> None:
    """lg.agent(timeout_s=nan) is a ConfigurationError naming the option."""
    with pytest.raises(ConfigurationError, match="timeout_s"):
        lg.agent("nan", timeout_s=timeout)


def test_a_tool_refuses_a_nan_timeout() -> None:
    """@lg.tool(timeout_s=nan) is a ConfigurationError naming the option."""

    async def lookup(key: str) -> str:
        return key

    with pytest.raises(ConfigurationError, match="timeout_s"):
        lg.tool(timeout_s=math.nan)(lookup)


def test_an_infinite_timeout_is_no_deadline() -> None:
    """timeout_s=inf is accepted and never stops a run, sync or async."""
    forever = lg.agent("forever", timeout_s=math.inf)

    async def run_async() -> int:
        async with forever as run:
            run.step()
            await asyncio.sleep(0)
            run.step()
        return run.steps

    assert asyncio.run(run_async()) == 2
    with forever as run:
        run.step()
        run.step()
    assert run.steps == 2
