"""Thousands of runs of one shared agent open at once, in asyncio tasks.

Session 11 kept an agent's open runs so that a block leaving in another context could
find its own; every block's exit copied that whole set to search it, so N runs open
at once cost N * N to close (8,000 tasks: a median 7.6 s of CPU, against 0.20 s now,
busy machine). The usual exit -- the block's run is its context's -- reads none of them.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterator
from typing import Any

import llmguard as lg
from llmguard.testing import capture


class _CountingRuns(weakref.WeakSet[Any]):
    """The agent's set of open runs, counting the runs read out of it."""

    read = 0

    def __iter__(self) -> Iterator[Any]:
        for run in super().__iter__():
            type(self).read += 1
            yield run


async def _many(agent: lg.Agent[Any], tasks: int) -> None:
    gate = asyncio.Event()

    async def one(number: int) -> None:
        async with agent as run:
            await gate.wait()
            run.step()
            run.set_output(number)

    running = [asyncio.create_task(one(n)) for n in range(tasks)]
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*running)


def test_closing_many_open_runs_of_one_agent_reads_none_of_the_others() -> None:
    """1,000 concurrent runs end with their own records, without searching each other."""
    agent = lg.agent("crowd", max_steps=5)
    agent._runs = _CountingRuns()
    with capture() as records:
        asyncio.run(_many(agent, 1000))
    runs = [r for r in records if r.kind == "agent"]
    assert sorted(r.output for r in runs) == list(range(1000))
    assert all(r.status == "ok" and r.metadata["steps"] == 1 for r in runs)
    assert _CountingRuns.read == 0
