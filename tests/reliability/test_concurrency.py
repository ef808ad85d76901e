"""Concurrent calls keep their own context: asyncio tasks, thread pools, no bleed."""

from __future__ import annotations

import asyncio
import collections
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import llmguard as lg
from llmguard.sinks import MemorySink
from llmguard.testing import capture
from tests._helpers.reliability import figure

# Enough tasks for hundreds of interleavings at every await and a steady flow of records
# to the delivery thread; a current span shared between tasks fails at any count (one
# shared by every task and thread failed each test here at 200, 5 runs in 5).
# LLMGUARD_SOAK=1 runs the 2,000 of docs/reliability.md's figures.
TASKS = 2_000 if os.environ.get("LLMGUARD_SOAK") == "1" else 200


def _reply(text: str) -> dict[str, Any]:
    """A Chat Completions answer, as an OpenAI-compatible server sends it."""
    return {
        "object": "chat.completion",
        "model": "m",
        "choices": [{"index": 0, "message": {"content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }


@lg.guard(name="ask")
async def ask(messages: list[dict[str, str]]) -> dict[str, Any]:
    await asyncio.sleep(0)
    return _reply(messages[0]["content"])


async def test_two_thousand_tasks_each_keep_their_own_trace() -> None:
    """TASKS concurrent tasks (200; 2,000 under LLMGUARD_SOAK=1), each its own trace with
    a guarded call and nested spans interleaved at every await: every record has its
    task's trace and the right parent."""
    memory = MemorySink()
    lg.configure(sinks=[memory], queue_size=100_000, max_queue_bytes=256 * 1024 * 1024)

    async def job(i: int) -> tuple[str, str]:
        async with lg.span("job", i=i) as top:
            await asyncio.sleep(0.001 * (i % 5))
            async with lg.span("step", i=i):
                await ask([{"role": "user", "content": f"q{i}"}])
                await asyncio.sleep(0)
            return top.trace_id, top.span_id

    roots = await asyncio.gather(*(job(i) for i in range(TASKS)))
    assert await asyncio.to_thread(lg.flush, 30)
    records = memory.records
    assert lg.stats().dropped == 0
    by_trace: dict[str, list[lg.Record]] = collections.defaultdict(list)
    for record in records:
        by_trace[record.trace_id].append(record)
    assert len(by_trace) == TASKS
    wrong = 0
    for trace_id, top_id in roots:
        spans = {r.kind if r.kind != "span" else r.name: r for r in by_trace[trace_id]}
        assert set(spans) == {"job", "step", "llm", "attempt"}
        job_index = spans["job"].metadata["i"]
        wrong += spans["job"].span_id != top_id or spans["job"].parent_id is not None
        wrong += spans["step"].parent_id != top_id or spans["step"].metadata["i"] != job_index
        wrong += spans["llm"].parent_id != spans["step"].span_id
        wrong += spans["attempt"].parent_id != spans["llm"].span_id
        wrong += spans["llm"].output != _reply(f"q{job_index}")
    figure(f"asyncio: {TASKS:,} tasks, {len(records):,} records, {wrong} with a wrong parent")
    assert wrong == 0
    assert len(records) == 4 * TASKS


async def test_two_thousand_tasks_under_one_root_keep_their_own_parents() -> None:
    """TASKS tasks under one root span, three levels deep: every parent is right."""

    async def job(i: int) -> None:
        async with lg.span(f"job-{i}"):
            await asyncio.sleep(0.001 * (i % 7))
            async with lg.span(f"step-{i}"):
                await asyncio.sleep(0.001 * (i % 3))
                with lg.span(f"leaf-{i}"):
                    await asyncio.sleep(0)

    with capture() as records, lg.span("root") as root:
        await asyncio.gather(*(job(i) for i in range(TASKS)))
    found = {r.name: r for r in records}
    assert len(records) == 3 * TASKS + 1
    for i in range(TASKS):
        assert found[f"job-{i}"].parent_id == root.span_id
        assert found[f"step-{i}"].parent_id == found[f"job-{i}"].span_id
        assert found[f"leaf-{i}"].parent_id == found[f"step-{i}"].span_id
    assert {r.trace_id for r in records} == {root.trace_id}


def test_thread_pool_with_propagate_keeps_parents() -> None:
    """Work submitted through lg.propagate nests under the submitting span, per thread."""

    def job(i: int) -> str:
        with lg.span(f"job-{i}") as s, lg.span(f"inner-{i}"):
            return s.span_id

    with capture() as records, lg.span("root") as root, ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lg.propagate(job), range(TASKS)))
    found = {r.name: r for r in records}
    for i, span_id in enumerate(ids):
        assert found[f"job-{i}"].span_id == span_id
        assert found[f"job-{i}"].parent_id == root.span_id
        assert found[f"inner-{i}"].parent_id == span_id
    assert {r.trace_id for r in records} == {root.trace_id}


def test_pool_threads_carry_nothing_from_one_job_to_the_next() -> None:
    """Reused pool threads start every job with no current span, propagated or not,
    even when an earlier job on that thread failed inside a span."""

    @lg.guard(name="sync-ask")
    def sync_ask(i: int) -> dict[str, Any]:
        return _reply(str(i))

    def job(i: int) -> tuple[bool, str]:
        clean = lg.current_span() is None
        with lg.span("job") as top:
            sync_ask(i)
            if i % 10 == 0:
                raise_inside(i)
        return clean, top.trace_id

    def raise_inside(i: int) -> None:
        try:
            with lg.span("failing"):
                raise RuntimeError(i)
        except RuntimeError:
            pass

    with capture() as records, ThreadPoolExecutor(4) as pool:
        results = list(pool.map(job, range(TASKS)))
    assert all(clean for clean, _ in results)
    traces = {trace_id for _, trace_id in results}
    assert len(traces) == TASKS
    by_trace = collections.Counter(r.trace_id for r in records)
    assert all(by_trace[t] in (3, 4) for t in traces)  # job, llm, attempt (+ failing)


async def test_to_thread_and_tasks_mixed_keep_parents() -> None:
    """Spans opened in asyncio.to_thread and in nested tasks nest under their caller."""

    def blocking_work(i: int) -> str:
        with lg.span(f"thread-{i}") as s:
            return s.parent_id or ""

    async def peek() -> lg.Span | None:
        await asyncio.sleep(0)
        return lg.current_span()

    async def job(i: int) -> tuple[str, str]:
        async with lg.span(f"job-{i}") as top:
            parent = await asyncio.to_thread(blocking_work, i)
            current = await asyncio.create_task(peek())
            return top.span_id, parent if current is top else "bled"

    with capture():
        pairs = await asyncio.gather(*(job(i) for i in range(TASKS)))
    assert all(top == parent for top, parent in pairs)
