"""``lg.shutdown()`` called by a sink from inside its own ``emit``: the records already
accepted for that sink (waiting in its backlog) reach it before it is closed, with
``strict=True`` too, and when a newer pipeline holds the same sink."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import llmguard as lg
from llmguard.sinks import MemorySink


class BytesSink:
    """Writes each record's JSON line to ``data``; its first ``emit`` waits for ``go``
    and then shuts delivery down. ``close`` appends a marker line."""

    name = "bytes"

    def __init__(self, go: threading.Event, hold: threading.Event | None = None) -> None:
        self.data = bytearray()
        self.closes = 0
        self.entered = threading.Event()
        self.shut = threading.Event()
        self.shut_on: threading.Thread | None = None
        self.result: lg.FlushResult | None = None
        self._go = go
        self._hold = hold
        self._lock = threading.Lock()

    def emit(self, batch: Sequence[lg.Record]) -> None:
        with self._lock:
            for record in batch:
                self.data += record.to_json() + b"\n"
        if self.shut_on is None:
            self.shut_on = threading.current_thread()
            self.entered.set()
            self._go.wait(10)
            self.result = lg.shutdown(timeout=10)
            self.shut.set()
            if self._hold is not None:
                self._hold.wait(10)

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self) -> None:
        with self._lock:
            self.closes += 1
            self.data += b"<closed>\n"


def _names(data: bytes) -> list[str]:
    out = []
    for line in bytes(data).splitlines():
        out.append("<closed>" if line == b"<closed>" else lg.Record.from_json(line).name)
    return out


def test_records_waiting_for_the_shutting_sink_reach_it_before_its_close() -> None:
    """Spans accepted while the sink's ``emit`` ran were dropped by the shutdown that
    ``emit`` called; they are written, then the sink is closed, once."""
    go = threading.Event()
    sink = BytesSink(go)
    lg.configure(sinks=[sink])
    with lg.span("one"):
        pass
    assert sink.entered.wait(10)
    for name in ("two", "three", "four", "five"):
        with lg.span(name):
            pass
    go.set()
    assert sink.shut.wait(10)
    assert sink.shut_on is not None
    sink.shut_on.join(10)
    assert _names(sink.data) == ["one", "two", "three", "four", "five", "<closed>"]
    assert sink.closes == 1
    assert sink.result is not None
    assert sink.result.dropped == 0


def test_a_newer_pipeline_on_the_sink_leaves_the_old_backlog_delivered() -> None:
    """A span accepted before the inner shutdown waits in the old lane; one emitted
    after it goes to a newer pipeline on the same sink, shut down while the old emit
    is still held. Both reach the sink, and the close comes last."""
    go, hold = threading.Event(), threading.Event()
    sink = BytesSink(go, hold)
    lg.configure(sinks=[sink])
    with lg.span("one"):
        pass
    assert sink.entered.wait(10)
    with lg.span("two"):
        pass
    go.set()
    assert sink.shut.wait(10)
    with lg.span("three"):  # a newer pipeline, on the same sink
        pass
    assert lg.shutdown(timeout=10).complete
    hold.set()
    assert sink.shut_on is not None
    sink.shut_on.join(10)
    names = _names(sink.data)
    assert sorted(names[:-1]) == ["one", "three", "two"]
    assert names[-1] == "<closed>"
    assert sink.closes == 1


class OrderSink:
    """Under ``strict=True``: notes each emit and close; ``shuts`` calls
    ``lg.shutdown`` from its first ``emit``."""

    def __init__(self, name: str, log: list[str], shuts: bool) -> None:
        self.name = name
        self._log = log
        self._shuts = shuts

    def emit(self, batch: Sequence[lg.Record]) -> None:
        for record in batch:
            self._log.append(f"{self.name} got {record.name}")
        if self._shuts:
            self._shuts = False
            lg.shutdown(timeout=10)

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self) -> None:
        self._log.append(f"{self.name} closed")


def test_a_strict_shutdown_in_one_sink_lets_the_next_sink_take_the_record_first() -> None:
    """Under ``strict=True`` the record being emitted goes to the sinks one by one; a
    shutdown from the first one closed the second before it got the record."""
    log: list[str] = []
    first = OrderSink("first", log, shuts=True)
    second = OrderSink("second", log, shuts=False)
    lg.configure(sinks=[first, second], strict=True)
    with lg.span("one"):
        pass
    assert log.index("second got one") < log.index("second closed")
    assert log.index("first got one") < log.index("first closed")
    assert log.count("first closed") == 1
    assert log.count("second closed") == 1


class ClosedBytesSink(BytesSink):
    """A `BytesSink` that never shuts down itself and tells when it is closed."""

    def __init__(self) -> None:
        super().__init__(threading.Event())
        self.shut_on = threading.current_thread()
        self.closed = threading.Event()

    def close(self) -> None:
        super().close()
        self.closed.set()


def test_a_shutdown_from_a_redactor_delivers_what_was_accepted_before_closing() -> None:
    """A redactor runs on the dispatcher's thread, with the batch in its hands: its
    ``lg.shutdown()`` stopped the lanes, and every record of that batch and of the queue
    was dropped (counted by a pipeline no one could ask any more)."""
    sink = ClosedBytesSink()
    results: list[lg.FlushResult] = []

    def shutting(record: lg.Record) -> lg.Record:
        if not results:
            results.append(lg.shutdown(timeout=10))
        return record

    lg.configure(sinks=[sink], redact=[shutting])
    for name in ("one", "two", "three"):
        with lg.span(name):
            pass
    lg.flush(timeout=10)
    assert sink.closed.wait(10)
    assert _names(sink.data) == ["one", "two", "three", "<closed>"]
    assert sink.closes == 1


class KeptSink:
    """Holds its first ``emit`` until ``go``, then shuts delivery down from it; notes
    its closes, and closes during an emit."""

    name = "kept"

    def __init__(self) -> None:
        self.names: list[str] = []
        self.in_emit = 0
        self.closes = 0
        self.closed_during_emit = 0
        self.entered, self.go, self.shut = threading.Event(), threading.Event(), threading.Event()
        self.closed = threading.Event()
        self._first = True

    def emit(self, batch: Sequence[lg.Record]) -> None:
        self.in_emit += 1
        try:
            self.names.extend(r.name for r in batch)
            if self._first:
                self._first = False
                self.entered.set()
                self.go.wait(10)
                lg.shutdown(timeout=10)
                self.shut.set()
        finally:
            self.in_emit -= 1

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self) -> None:
        self.closes += 1
        self.closed_during_emit += bool(self.in_emit)
        self.closed.set()


def test_a_kept_sink_shutting_down_the_pipeline_that_took_it_is_still_closed() -> None:
    """``configure`` keeps the sink for the next pipeline while the old one is in its
    emit; that emit shuts the next one down. Each pipeline left the close to the
    other, and the sink was never closed."""
    sink = KeptSink()
    lg.configure(sinks=[sink])
    with lg.span("one"):
        pass
    assert sink.entered.wait(10)
    with lg.span("two"):  # waits in the old pipeline's lane
        pass
    lg.configure(sinks=[sink, MemorySink()])  # the old pipeline retires, keeping it
    with lg.span("three"):
        pass
    lg.flush(timeout=1)
    sink.go.set()
    assert sink.shut.wait(10)
    assert sink.closed.wait(10)
    assert sorted(sink.names) == ["one", "three", "two"]
    assert sink.closes == 1
    assert sink.closed_during_emit == 0
