"""Two signal handlers raising in a row while the application's thread queues a span
(Ctrl-C twice, an interval timer): the second lands while the first is being undone,
after the span was queued and before its weight. Delivery keeps working: the span and
those after it are delivered, no batch fails."""

from __future__ import annotations

import collections
from collections.abc import Callable

import pytest

import llmguard as lg
from llmguard._delivery import pipeline
from llmguard.sinks import MemorySink


class _Then(collections.deque):  # type: ignore[type-arg]
    """A deque whose next ``append`` is followed by ``then()``, as a handler runs
    right after the call that appended."""

    def __init__(self, *args: object, then: Callable[[], None] | None) -> None:
        super().__init__(*args)
        self.then = then

    def append(self, item: object) -> None:
        super().append(item)
        then, self.then = self.then, None
        if then is not None:
            then()


class _LenThen(collections.deque):  # type: ignore[type-arg]
    """A deque whose length is read once more and then ``then()`` runs."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.then: Callable[[], None] | None = None

    def __len__(self) -> int:
        size = super().__len__()
        then, self.then = self.then, None
        if then is not None:
            then()
        return size


def _interrupt() -> None:
    raise KeyboardInterrupt


def test_a_second_interrupt_while_the_first_is_undone_leaves_delivery_working() -> None:
    """The first interrupt comes right after the span was queued; the second right
    after the undo read the weights' length, before it added the span's weight. The
    two queues were out of step for good and every batch failed (IndexError)."""
    sink = MemorySink()
    lg.configure(sinks=[sink])
    active = pipeline._pipeline()  # its thread starts with its first span, on these
    weights = _LenThen(active._weights)
    active._weights = weights

    def first_interrupt() -> None:
        weights.then = _interrupt  # the undo reads the length next
        raise KeyboardInterrupt

    queue = _Then(active._queue, then=None)
    active._queue = queue
    with lg.span("first"):
        pass
    queue.then = first_interrupt
    with pytest.raises(KeyboardInterrupt), lg.span("interrupted"):
        pass
    for name in ("after-1", "after-2"):
        with lg.span(name):
            pass
    result = lg.flush(timeout=10)
    assert result.complete
    assert [r.name for r in sink.records if r.kind != "internal"] == [
        "first",
        "interrupted",
        "after-1",
        "after-2",
    ]
    assert lg.stats().internal_errors == 0
