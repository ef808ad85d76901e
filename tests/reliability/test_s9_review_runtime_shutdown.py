"""``lg.shutdown()`` from inside a sink's ``emit``, attacked further: the pipeline that
took the sink meanwhile is itself shut down before that ``emit`` returns. The sink
is sink is closed exactly once, never during its ``emit``."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import llmguard as lg


class HeldShuttingSink:
    """Calls ``lg.shutdown`` from its first ``emit`` and then waits for ``hold``."""

    name = "held"

    def __init__(self, hold: threading.Event) -> None:
        self.names: list[str] = []
        self.closes = 0
        self.closed_during_emit = 0
        self.in_emit = 0
        self.shut = threading.Event()
        self.shut_on: threading.Thread | None = None
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
                self._hold.wait(10)
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


def test_the_newer_pipeline_shut_down_before_the_old_emit_returns_closes_once() -> None:
    """A record emitted during the shutting ``emit`` starts a pipeline on the same sink;
    shutting that one down while the old ``emit`` still waits leaves the close to the
    old lane, which closes the sink once its ``emit`` has returned (it was closed twice)."""
    hold = threading.Event()
    sink = HeldShuttingSink(hold)
    lg.configure(sinks=[sink])
    with lg.span("one"):
        pass
    lg.flush(timeout=0.2)
    assert sink.shut.wait(10)
    with lg.span("two"):
        pass
    assert lg.flush(timeout=10).complete
    lg.shutdown(timeout=10)  # the newer pipeline, while the old emit is still held
    assert sink.closed_during_emit == 0
    hold.set()
    assert sink.shut_on is not None
    sink.shut_on.join(10)
    assert sink.names == ["one", "two"]
    assert sink.closes == 1
    assert sink.closed_during_emit == 0


class StrictShuttingSink:
    """Under ``strict=True``: calls ``lg.shutdown`` from its first ``emit``, on the
    application's thread."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.closes = 0
        self.closed_during_emit = 0
        self.in_emit = 0

    def emit(self, batch: Sequence[lg.Record]) -> None:
        self.in_emit += 1
        try:
            self.names.extend(r.name for r in batch)
            if self.names == ["one"]:
                lg.shutdown(timeout=10)
        finally:
            self.in_emit -= 1

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self) -> None:
        self.closes += 1
        if self.in_emit:
            self.closed_during_emit += 1


def test_a_strict_sink_shutting_down_in_its_emit_is_closed_after_it() -> None:
    """Under ``strict=True`` the emit runs on the caller's thread, which no lane marks:
    the sink was closed on another thread while its emit still ran."""
    sink = StrictShuttingSink()
    lg.configure(sinks=[sink], strict=True)
    with lg.span("one"):
        pass
    assert sink.names == ["one"]
    assert sink.closes == 1
    assert sink.closed_during_emit == 0
