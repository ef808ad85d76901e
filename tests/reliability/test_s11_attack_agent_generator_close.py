"""An agent run opened in a generator, and the generator closed from another context.

A web framework streams an agent's steps from a generator; the client goes away and the
generator is closed by another thread, the garbage collector, or (async) the event loop's
finalizer task. The run's block then exits in another context than it entered: the
run must still end and be recorded, and nothing may be raised into whoever closed it.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncGenerator, Generator

import llmguard as lg
from llmguard.testing import capture

SHARED = lg.agent("shared", max_steps=10)


def _stream(name: str) -> Generator[int, None, None]:
    with lg.agent(name, max_steps=5):
        yield from lg.steps()


def _summary(records: list[lg.Record]) -> list[tuple[str, str, str, str | None]]:
    return [(r.kind, r.name, r.status, r.error_type) for r in records]


def test_a_generator_run_closed_on_another_thread_ends_there() -> None:
    """close() from another thread raises nothing and records the run as a close here does."""
    contextvars.copy_context().run(_closed_on_another_thread)


def _closed_on_another_thread() -> None:
    # In a context of its own: the suspended generator's spans show in its consumer's
    # context, and a close elsewhere cannot take them back out of it.
    errors: list[BaseException] = []

    def close(gen: Generator[int, None, None]) -> None:
        try:
            gen.close()
        except BaseException as exc:
            errors.append(exc)

    with capture() as records:
        gen = _stream("closed-elsewhere")
        assert [next(gen), next(gen)] == [1, 2]
        closer = threading.Thread(target=close, args=(gen,))
        closer.start()
        closer.join()
    assert errors == []
    assert _summary(records) == [
        ("step", "step 1", "ok", None),
        ("step", "step 2", "error", "GeneratorExit"),
        ("agent", "closed-elsewhere", "error", "GeneratorExit"),
    ]
    assert records[-1].metadata["steps"] == 2
    assert lg.current_run() is None


def test_two_generators_of_one_agent_closed_elsewhere_each_end_their_own_run() -> None:
    """Two open runs of one shared agent, closed from a thread each: each ends its own."""
    contextvars.copy_context().run(_two_closed_elsewhere)


def _two_closed_elsewhere() -> None:

    def stream(label: str) -> Generator[str, None, None]:
        with SHARED as run:
            run.set_output(label)
            yield label
            run.step()
            yield label

    with capture() as records:
        first, second = stream("first"), stream("second")
        assert next(first) == "first"
        assert next(second) == "second"
        assert next(first) == "first"
        for gen in (first, second):
            closer = threading.Thread(target=gen.close)
            closer.start()
            closer.join()
    runs = {r.output: r.metadata["steps"] for r in records if r.kind == "agent"}
    assert runs == {"first": 1, "second": 0}


def test_an_async_generator_run_finalized_in_a_fresh_context_ends_there() -> None:
    """aclose() in a task of its own context (the loop's finalizer) records the run."""

    async def stream() -> AsyncGenerator[int, None]:
        async with lg.agent("async-closed", max_steps=5):
            for number in lg.steps():
                yield number

    async def main() -> list[lg.Record]:
        with capture() as records:
            gen = stream()
            assert await gen.__anext__() == 1
            loop = asyncio.get_running_loop()
            await contextvars.Context().run(loop.create_task, gen.aclose())
        return records

    records = asyncio.run(main())
    assert _summary(records)[-1] == ("agent", "async-closed", "error", "GeneratorExit")
