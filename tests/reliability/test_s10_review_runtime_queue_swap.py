"""The dispatcher reads the pipeline's queue where `_dispatch` does: a queue put in
place while its thread runs (as the signal tests do, to step in between two steps)
left it looping on the one it started with, which never emptied: a core spun for the
rest of the process, dispatching nothing."""

from __future__ import annotations

import collections
import threading

import llmguard as lg
from llmguard._delivery import pipeline
from llmguard.sinks import MemorySink


def test_a_queue_swapped_under_a_running_dispatcher_is_the_one_it_drains() -> None:
    """After the swap the records are delivered, and the dispatcher's loop ends when
    the queue in place is empty (it checks for stalls then), with no dispatch of an
    empty queue."""
    sink = MemorySink()
    lg.configure(sinks=[sink])
    with lg.span("first"):
        pass
    active = pipeline._pipeline()
    assert active._thread is not None
    active._queue = collections.deque(active._queue)  # the old one keeps its span
    empty: list[int] = []
    looped = threading.Event()
    dispatch, check = active._dispatch, active._check_stalls

    def counted_dispatch() -> None:
        if not active._queue:
            empty.append(1)
        dispatch()

    def counted_check() -> None:
        looped.set()
        check()

    active._dispatch = counted_dispatch  # type: ignore[method-assign]
    active._check_stalls = counted_check  # type: ignore[method-assign]
    with lg.span("second"):
        pass
    assert lg.flush(timeout=10).complete
    looped.clear()
    active._wake.set()
    assert looped.wait(10), "the dispatcher never left its loop"
    assert empty == []
    assert [r.name for r in sink.records if r.kind != "internal"] == ["first", "second"]
