"""A traced generator finished on a daemon thread at the very moment the exit ends the
streams still open: its span is recorded once, by whichever of the two got there first.
The interleaving is forced with events, no sleeps."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

import llmguard as lg
from llmguard._tracing import open_streams, spans
from llmguard.sinks import MemorySink


@lg.trace
def numbers() -> Iterator[int]:
    yield 1
    yield 2


def test_a_generator_ending_while_the_exit_ends_it_is_recorded_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The daemon thread ends the span and is held just before the span is marked
    ended; the exit's step runs then. Two records of one span were written."""
    sink = MemorySink()
    lg.configure(sinks=[sink])
    stream = numbers()
    assert next(stream) == 1
    inside, release = threading.Event(), threading.Event()
    daemon_ident: list[int] = []
    real_clock = spans._perf_ns

    def held_clock() -> int:
        # Read by Span.end between its check of `ended` and setting it.
        if daemon_ident and threading.get_ident() == daemon_ident[0]:
            inside.set()
            release.wait(10)
        return real_clock()

    monkeypatch.setattr(spans, "_perf_ns", held_clock)

    def finish() -> None:
        daemon_ident.append(threading.get_ident())
        assert list(stream) == [2]

    daemon = threading.Thread(target=finish, daemon=True)
    daemon.start()
    assert inside.wait(10)
    open_streams._end_open_streams()  # what the exit runs before its last flush
    release.set()
    daemon.join(10)
    assert lg.flush(timeout=10).complete
    spans_seen = [(r.trace_id, r.span_id) for r in sink.records if r.kind != "internal"]
    assert len(spans_seen) == 1
    assert sink.records[0].stream is not None
    assert sink.records[0].stream.end == "exhausted"
    assert sink.records[0].stream.items == 2


def test_the_exit_taking_the_span_first_leaves_the_generator_nothing_to_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other order: the exit ends the span as ``interrupted`` and is held inside
    the end while the daemon thread exhausts the generator; still one record."""
    sink = MemorySink()
    lg.configure(sinks=[sink])
    stream = numbers()
    assert next(stream) == 1
    inside, release = threading.Event(), threading.Event()
    exit_ident = threading.get_ident()
    real_clock = spans._perf_ns

    def held_clock() -> int:
        if threading.get_ident() == exit_ident and not inside.is_set():
            inside.set()
            release.wait(10)
        return real_clock()

    def finish() -> None:
        assert inside.wait(10)
        assert list(stream) == [2]
        release.set()

    daemon = threading.Thread(target=finish, daemon=True)
    daemon.start()
    monkeypatch.setattr(spans, "_perf_ns", held_clock)
    open_streams._end_open_streams()
    monkeypatch.setattr(spans, "_perf_ns", real_clock)
    daemon.join(10)
    assert lg.flush(timeout=10).complete
    records = [r for r in sink.records if r.kind != "internal"]
    assert len(records) == 1
    assert records[0].stream is not None
    assert records[0].stream.end == "interrupted"
    assert records[0].stream.items == 1
