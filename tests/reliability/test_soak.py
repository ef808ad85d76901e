"""A soak: traced and guarded calls for a while, memory staying flat.

Runs ``LLMGUARD_SOAK_SECONDS`` seconds per test; set it higher for a long run, e.g.
``LLMGUARD_SOAK_SECONDS=600 pytest tests/reliability/test_soak.py -s``. Unset, the soak
with a JSON Lines sink runs 1 s and at least `MIN_CALLS` calls (3 s under
``LLMGUARD_SOAK=1``, the figures of docs/reliability.md): a leak of one object a record
shows either way, as a kept run grows by a few hundred objects at most. The soak with a
hung sink runs 3 s: in 1 s a queue that ignored its bound passed 2 times in 5.
"""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import llmguard as lg
from llmguard.sinks import JSONLSink
from tests._helpers.reliability import BlockingSink, figure, released, rss_bytes

SECONDS = float(
    os.environ.get("LLMGUARD_SOAK_SECONDS", "3" if os.environ.get("LLMGUARD_SOAK") == "1" else "1")
)
HUNG_SECONDS = float(os.environ.get("LLMGUARD_SOAK_SECONDS", "3"))
# What a leak of a few objects a call needs to show above the bound, however slow the
# machine (under coverage on a busy one, 1 s is about 400 calls).
MIN_CALLS = 400
MB = 1024 * 1024

pytestmark = pytest.mark.slow


class Verdict(BaseModel):
    label: str
    score: int


_ANSWER = {
    "object": "chat.completion",
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"content": '```json\n{"label": "ok", "score": 3}\n```'},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 9},
}


@lg.guard(schema=Verdict, retries=1, name="judge")
def judge(messages: list[dict[str, str]], max_tokens: int | None = None) -> Any:
    return _ANSWER


@lg.trace
def handle(i: int) -> int:
    with lg.span("retrieve", k=3, user="jane@example.com"):
        pass
    verdict = judge([{"role": "user", "content": f"rate answer {i}"}])
    return verdict.score


def _soak(seconds: float, flush_timeout: float, warm_up: int) -> tuple[int, int, int]:
    """Calls for ``seconds`` after ``warm_up`` calls: (calls, RSS growth, live objects
    growth).

    Growth is measured from the end of the warm-up to the end of the run, after a
    garbage collection, so it shows what the run kept rather than what it used.
    """
    for i in range(warm_up):  # warm caches, pydantic, the pipeline's threads
        handle(i)
    lg.flush(timeout=flush_timeout)
    gc.collect()
    rss_before, objects_before = rss_bytes(), len(gc.get_objects())
    calls = 0
    deadline = time.monotonic() + seconds
    while calls < MIN_CALLS or time.monotonic() < deadline:
        for _ in range(200):
            handle(calls)
            calls += 1
    lg.flush(timeout=flush_timeout)
    gc.collect()
    return calls, rss_bytes() - rss_before, len(gc.get_objects()) - objects_before


def test_soak_with_a_jsonl_sink_keeps_memory_flat(tmp_path: Path) -> None:
    """Traced and guarded calls for N seconds: every record written or counted as
    dropped, and memory does not grow with the number of calls."""
    path = tmp_path / "soak.jsonl"
    lg.configure(sinks=[JSONLSink(path)])
    # What the soak can see is set by the measured seconds, not by the warm-up: with a
    # sink that keeps up, 500 calls leave the growth at 0 as 2,000 did.
    calls, rss, objects = _soak(SECONDS, flush_timeout=30, warm_up=500)
    stats = lg.stats()
    figure(
        f"soak: {SECONDS:g} s, {calls:,} calls, {stats.emitted:,} records, "
        f"{stats.dropped:,} dropped at the queue, RSS growth {rss / MB:.1f} MB, "
        f"live objects growth {objects:,}"
    )
    sink = stats.sinks[0]
    assert calls > 0
    # Dropped at the queue, or at the sink's backlog when it fell behind: counted either way.
    assert sink.delivered + sink.dropped + stats.dropped == stats.emitted
    with path.open("rb") as lines:
        assert sum(1 for _ in lines) == sink.delivered
    # A kept run grows by a few objects (-2 to +200 measured); a leak of one object a
    # record grows by 1,600 or more in the least run.
    assert objects < 1_000
    assert rss < 64 * MB


def test_soak_with_a_hung_sink_stays_within_the_queue_bound() -> None:
    """A sink hung for the whole soak: records dropped and counted, memory bounded."""
    blocking = BlockingSink()
    lg.configure(sinks=[blocking], queue_size=2_000)
    with released(blocking):
        # 2,000 calls fill the queue and the sink's backlog before the measure starts
        # (after 500, the records still filling them counted as growth: about 3,000).
        calls, rss, objects = _soak(HUNG_SECONDS, flush_timeout=0.2, warm_up=2_000)
        stats = lg.stats()
    sink = stats.sinks[0]
    figure(
        f"soak, hung sink: {HUNG_SECONDS:g} s, {calls:,} calls, {stats.emitted:,} records, "
        f"{stats.dropped:,} dropped at the queue, {sink.dropped:,} at the sink, "
        f"{sink.pending:,} held, RSS growth {rss / MB:.1f} MB, live objects growth {objects:,}"
    )
    assert sink.pending <= 2_000
    assert stats.queued <= 2_000
    # Every record is somewhere; llmguard's own internal records are not counted.
    held = stats.queued + stats.in_flight + stats.dropped + stats.sampled_out
    assert sink.delivered + sink.dropped + sink.pending + held == stats.emitted
    assert objects < 5_000
    assert rss < 64 * MB
