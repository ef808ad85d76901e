"""``lg.shutdown()`` called by a sink from inside its own ``emit``: the sink is closed
exactly once, and never while that ``emit`` is still running."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import llmguard as lg


class ShuttingSink:
    """Calls ``lg.shutdown`` from its first ``emit``; counts closes and overlaps."""

    name = "shutting"

    def __init__(self, hold: threading.Event | None = None) -> None:
        self.names: list[str] = []
        self.closes = 0
        self.closed_during_emit = 0
        self.in_emit = 0
        self.shut = threading.Event()
        self.shut_on: threading.Thread | None = None  # the old pipeline's lane
        self._hold = hold
        self._lock = threading.Lock()

    def emit(self, batch: Sequence[lg.Record]) -> None:
        with self._lock:
            self.in_emit += 1
        try:
            self.names.extend(r.name for r in batch)
            if not self.shut.is_set():
                self.shut_on = threading.current_thread()
                lg.shutdown(timeout=None)
                self.shut.set()
                if self._hold is not None:
                    self._hold.wait(10)  # records emitted meanwhile start a new pipeline
        finally:
            with self._lock:
                self.in_emit -= 1

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self) -> None:
        with self._lock:
            self.closes += 1
            if self.in_emit:
                self.closed_during_emit += 1


def test_shutdown_inside_emit_closes_the_sink_once_after_emit_returns() -> None:
    """The sink is closed once, when its ``emit`` has returned, and not again by the
    shutdown at the end."""
    sink = ShuttingSink()
    lg.configure(sinks=[sink])
    with lg.span("one"):
        pass
    lg.flush(timeout=0.2)
    assert sink.shut.wait(10)
    lg.shutdown(timeout=10)
    lg.reset()
    assert sink.names == ["one"]
    assert sink.closes == 1
    assert sink.closed_during_emit == 0


def test_a_pipeline_started_during_the_inner_shutdown_owns_the_close() -> None:
    """A record emitted while the shutting ``emit`` still runs goes to a new pipeline
    on the same sink; that pipeline closes it, once, and the old one leaves it open."""
    hold = threading.Event()
    sink = ShuttingSink(hold)
    lg.configure(sinks=[sink])
    with lg.span("one"):
        pass
    lg.flush(timeout=0.2)
    assert sink.shut.wait(10)
    with lg.span("two"):
        pass
    hold.set()
    assert lg.flush(timeout=10).complete
    assert sink.shut_on is not None
    sink.shut_on.join(10)  # the old lane is done, and left the sink to the new pipeline
    assert sink.closes == 0
    lg.shutdown(timeout=10)
    assert sink.names == ["one", "two"]
    assert sink.closes == 1
    assert sink.closed_during_emit == 0
