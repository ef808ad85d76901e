"""One shared agent, a generator's run leaving its block where another run of it is open.

The s11 fix told the runs of one agent apart by the frame of their block only when the
current context had no run of that agent. A generator closed inside another run of the
same agent then ended that other run, and a generator finished on a thread while
another thread had a run of the agent open raised RuntimeError into the application.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Generator

import llmguard as lg
from llmguard.testing import capture

SHARED = lg.agent("shared-frames", max_steps=10)


def _stream() -> Generator[int, None, None]:
    with SHARED as run:
        run.set_output("generator")
        yield 1
        run.step()
        yield 2


def _agents(records: list[lg.Record]) -> list[tuple[str, str, str | None, object]]:
    return [
        (r.status, str(r.output), r.error_type, r.metadata["steps"])
        for r in records
        if r.kind == "agent"
    ]


def test_a_generator_closed_inside_another_run_of_its_agent_ends_its_own_run() -> None:
    """gen.close() inside a block of the same agent ends the generator's run, not the block's."""
    contextvars.copy_context().run(_closed_inside_another_run)


def _closed_inside_another_run() -> None:
    with capture() as records:
        gen = _stream()
        assert next(gen) == 1
        with SHARED as mine:
            mine.set_output("block")
            mine.step()
            mine.step()
            gen.close()
            assert lg.current_run() is mine
            mine.step()
    assert _agents(records) == [
        ("error", "generator", "GeneratorExit", 0),
        ("ok", "block", None, 3),
    ]
    assert lg.current_run() is None


def test_a_generator_finished_on_a_thread_while_another_thread_runs_its_agent() -> None:
    """Exhausting a generator elsewhere, while another run of its agent is open, raises nothing."""
    contextvars.copy_context().run(_finished_beside_another_run)


def _finished_beside_another_run() -> None:
    errors: list[BaseException] = []
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with SHARED as run:
            run.set_output("other")
            inside.set()
            leave.wait(10)

    def finish(gen: Generator[int, None, None]) -> None:
        try:
            assert list(gen) == [2]
        except BaseException as exc:
            errors.append(exc)

    with capture() as records:
        gen = _stream()
        assert next(gen) == 1
        holder = threading.Thread(target=other)
        holder.start()
        assert inside.wait(10)
        finisher = threading.Thread(target=finish, args=(gen,))
        finisher.start()
        finisher.join()
        leave.set()
        holder.join()
    assert errors == []
    assert sorted(_agents(records), key=str) == [
        ("ok", "generator", None, 1),
        ("ok", "other", None, 0),
    ]
