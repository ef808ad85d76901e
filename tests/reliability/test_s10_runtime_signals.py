"""Signal handlers on the application's thread, stepping in while it hands a span to
delivery: one raising (``KeyboardInterrupt`` from Ctrl-C, a notebook's interrupt) and
one ending a span of its own. Forced deterministically at the step in between."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

import pytest

import llmguard as lg
from llmguard._delivery import pipeline
from llmguard.sinks import MemorySink


class _Interrupted(collections.deque):  # type: ignore[type-arg]
    """A deque whose next ``append`` is followed by ``then()``, as a signal handler
    runs right after the call that appended."""

    def __init__(self, *args: object, then: Callable[[], None]) -> None:
        super().__init__(*args)
        self._then: Callable[[], None] | None = then

    def append(self, item: object) -> None:
        super().append(item)
        then, self._then = self._then, None
        if then is not None:
            then()


def _names(sink: MemorySink) -> list[str]:
    return [r.name for r in sink.records if r.kind != "internal"]


def test_an_interrupt_between_a_span_and_its_weight_leaves_delivery_working() -> None:
    """KeyboardInterrupt right after the span was queued, before its weight: the two
    queues were out of step and the dispatcher failed at every batch from then on."""
    sink = MemorySink()
    lg.configure(sinks=[sink])
    with lg.span("first"):
        pass
    active = pipeline._pipeline()

    def interrupt() -> None:
        raise KeyboardInterrupt

    active._queue = _Interrupted(active._queue, then=interrupt)
    with pytest.raises(KeyboardInterrupt), lg.span("interrupted"):
        pass
    for name in ("after-1", "after-2"):
        with lg.span(name):
            pass
    result = lg.flush(timeout=10)
    assert result.complete
    assert _names(sink) == ["first", "interrupted", "after-1", "after-2"]
    assert lg.stats().internal_errors == 0


def test_a_handler_ending_a_span_while_the_thread_queues_one_does_not_hang() -> None:
    """A handler's span ended while this thread held the queue's lock waited for it
    forever; it is now dropped and counted, and the thread goes on."""
    sink = MemorySink()
    lg.configure(sinks=[sink])
    with lg.span("first"):
        pass
    active = pipeline._pipeline()

    def handler() -> None:
        with lg.span("from-handler"):
            pass

    active._queue = _Interrupted(active._queue, then=handler)
    done = threading.Event()

    def run() -> None:
        with lg.span("outer"):
            pass
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert done.wait(10), "the thread hung on the queue's lock"
    lg.flush(timeout=10)
    assert _names(sink) == ["first", "outer"]
    assert lg.stats().dropped == 1


class _Reentered(collections.Counter):  # type: ignore[type-arg]
    """The warner's counts, whose next ``pop`` is followed by ``then()``."""

    def __init__(self, then: Callable[[], None]) -> None:
        super().__init__()
        self._then: Callable[[], None] | None = then

    def pop(self, *args: object) -> object:
        found = super().pop(*args)  # type: ignore[arg-type]
        then, self._then = self._then, None
        if then is not None:
            then()
        return found


def test_a_handler_warning_while_the_thread_warns_does_not_hang() -> None:
    """A dropped record is warned about under the warner's lock; a handler's span
    dropped (the queue full) while this thread was in there waited for it forever."""
    lg.configure(sinks=[MemorySink()])
    warner = pipeline._pipeline()._warn
    warner._suppressed = _Reentered(lambda: warner("queue-full", "from the handler"))
    done = threading.Event()

    def run() -> None:
        warner("queue-full", "from the thread")
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert done.wait(10), "the thread hung on the warner's lock"
