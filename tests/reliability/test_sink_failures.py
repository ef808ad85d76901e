"""Sinks that raise, hang or are slow never reach the application, nor each other."""

from __future__ import annotations

import logging
import time

import pytest

import llmguard as lg
from llmguard._delivery import pipeline as _pipeline
from llmguard.sinks import MemorySink
from tests._helpers.reliability import (
    BlockingSink,
    HangingFlushSink,
    RaisingSink,
    SlowSink,
    answer,
    figure,
    quantile,
    released,
)
from tests.conftest import ListSink

# A generous ceiling for one call's time while a sink misbehaves: a call that waited
# on a sink would take seconds, a healthy one takes microseconds.
CALL_BOUND_S = 0.050


def test_raising_sink_never_reaches_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    """A sink that raises on every batch: calls still return, errors counted, one warning."""
    bad, good = RaisingSink(), ListSink()
    lg.configure(sinks=[bad, good], batch_size=1)
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        results = []
        for i in range(20):
            results.append(answer(i))
            lg.flush(timeout=5)
    assert results == [i * 2 for i in range(20)]
    stats = {s.name: s for s in lg.stats().sinks}
    assert stats["RaisingSink"].errors == 20
    assert stats["RaisingSink"].delivered == 0
    warnings = [r for r in caplog.records if "RaisingSink" in r.getMessage()]
    assert len(warnings) == 2  # once for emit(), once for flush(): one per kind of trouble
    assert "disk on fire" in warnings[0].getMessage()
    internal = [r for r in good.records if r.kind == "internal"]
    assert [r.name for r in internal] == [
        "sink 'RaisingSink' failed in emit()",
        "sink 'RaisingSink' failed in flush()",
    ]
    assert internal[0].error_type == "OSError"
    assert len([r for r in good.records if r.kind == "span"]) == 20


def test_blocking_sink_does_not_slow_callers_and_flush_honours_timeout() -> None:
    """A sink that never returns: calls stay fast, the bound holds, flush times out."""
    blocking, good = BlockingSink(), ListSink()
    lg.configure(sinks=[blocking, good], queue_size=100, batch_size=10)
    answer(0)
    lg.flush(timeout=0.2)
    assert blocking.entered.wait(5)
    start = time.perf_counter()
    for i in range(5_000):
        answer(i)
    elapsed = time.perf_counter() - start
    started = time.perf_counter()
    result = lg.flush(timeout=0.5)
    flush_took = time.perf_counter() - started
    try:
        assert elapsed < 2.0  # 5,000 calls; a blocked caller would never finish
        assert not result.complete
        assert 0.4 <= flush_took < 1.5
        pending = {s.name: s.pending for s in result.sinks}
        assert 0 < pending["blocking"] <= 100
        assert pending["ListSink"] == 0
        stats = lg.stats()
        assert stats.emitted == 5_001
        by_name = {s.name: s for s in stats.sinks}
        assert by_name["blocking"].dropped > 0
        good_stats = by_name["ListSink"]
        accounted = good_stats.delivered + good_stats.dropped + good_stats.pending + stats.dropped
        assert accounted + stats.queued == 5_001  # every record delivered or counted as dropped
    finally:
        blocking.release.set()


def test_full_queue_drops_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    """When callers outrun delivery, records beyond the queue bound are dropped and counted."""
    blocking = BlockingSink()
    lg.configure(sinks=[blocking], queue_size=10, batch_size=5)
    answer(0)
    lg.flush(timeout=0.2)
    assert blocking.entered.wait(5)
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        for i in range(1_000):
            answer(i)
    try:
        stats = lg.stats()
        (sink,) = stats.sinks
        # Dropped at the queue or, for what the dispatcher still moved on, at the sink's
        # backlog (which of the two depends on the threads' timing); every record is
        # somewhere, and at most the bounds' worth is kept.
        assert stats.dropped + sink.dropped > 900
        assert stats.queued <= 10
        assert sink.pending <= 10
        assert stats.emitted == 1_001
        assert stats.emitted == (
            stats.queued + stats.in_flight + stats.sampled_out + stats.dropped
            + sink.delivered + sink.dropped + sink.pending
        )  # fmt: skip
        assert len([r for r in caplog.records if "queue is full" in r.getMessage()]) == 1
    finally:
        blocking.release.set()


def test_hanging_sink_adds_microseconds_not_waits_per_call() -> None:
    """With a sink hung in emit(), each traced call still takes far under 50 ms (p99)."""
    blocking, memory = BlockingSink(), MemorySink()
    lg.configure(sinks=[blocking, memory], queue_size=1_000)
    with released(blocking):
        answer(0)
        lg.flush(timeout=0.2)
        assert blocking.entered.wait(5)
        hung = _call_times(3_000)
        blocking.release.set()
        lg.flush(timeout=5)
        lg.configure(sinks=[MemorySink()])
        healthy = _call_times(3_000)
    p50, p99 = quantile(hung, 0.5), quantile(hung, 0.99)
    figure(
        f"hanging sink: 3,000 calls, caller p50 {p50 * 1e6:.1f} us, p99 {p99 * 1e6:.1f} us, "
        f"max {max(hung) * 1e6:.0f} us; healthy sink p50 {quantile(healthy, 0.5) * 1e6:.1f} us, "
        f"p99 {quantile(healthy, 0.99) * 1e6:.1f} us"
    )
    assert p99 < CALL_BOUND_S
    assert len(memory.find(kind="span")) >= 1


def _call_times(count: int) -> list[float]:
    times = []
    clock = time.perf_counter
    for i in range(count):
        started = clock()
        answer(i)
        times.append(clock() - started)
    return times


def test_hanging_sink_does_not_starve_the_other_sinks() -> None:
    """Every record reaches the healthy sink; the hung one's losses are all counted."""
    blocking, memory = BlockingSink(), MemorySink()
    lg.configure(sinks=[blocking, memory], queue_size=500, batch_size=50)
    with released(blocking):
        answer(-1)
        lg.flush(timeout=0.2)
        assert blocking.entered.wait(5)
        for i in range(2_000):
            answer(i)
            if i % 400 == 399:
                lg.flush(timeout=0.05)  # the hung sink cannot finish; the others do
        result = lg.flush(timeout=0.5)
        stats = lg.stats()
    assert not result.complete
    outputs = [r.output for r in memory.find(kind="span")]
    assert outputs == [-2, *(i * 2 for i in range(2_000))]
    assert stats.dropped == 0
    by_name = {s.name: s for s in stats.sinks}
    hung = by_name["blocking"]
    assert hung.dropped > 0
    assert 0 < hung.pending <= 500
    assert hung.delivered + hung.dropped + hung.pending == stats.emitted


def test_slow_sink_gets_everything_in_the_end_and_callers_do_not_wait() -> None:
    """A sink taking 20 ms a batch delays nobody and still receives every record."""
    slow, memory = SlowSink(0.02), MemorySink()
    lg.configure(sinks=[slow, memory], batch_size=100)
    times = _call_times(1_000)
    result = lg.flush(timeout=10)
    assert result.complete
    assert quantile(times, 0.99) < CALL_BOUND_S
    assert [r.output for r in slow.records] == [i * 2 for i in range(1_000)]
    assert [r.output for r in memory.records] == [i * 2 for i in range(1_000)]


@pytest.mark.parametrize("timeout", [0.0, 0.3])
def test_flush_honours_its_timeout_when_a_sink_hangs_in_flush(timeout: float) -> None:
    """A sink whose flush() never returns: lg.flush(timeout) still returns on time."""
    hanging, memory = HangingFlushSink(), MemorySink()
    lg.configure(sinks=[hanging, memory])
    with released(hanging):
        answer(1)
        lg.flush(timeout=0.2)  # the records are in; this flush mark hangs in the lane
        answer(2)
        started = time.perf_counter()
        result = lg.flush(timeout=timeout)
        took = time.perf_counter() - started
    assert took < timeout + 1.0
    assert len(memory.find(kind="span")) >= 1
    assert isinstance(result, lg.types.FlushResult)


def test_flush_and_shutdown_honour_their_timeout_when_emit_hangs() -> None:
    """flush(0.3) and shutdown(0.3) each return within a second with a hung sink."""
    blocking = BlockingSink()
    lg.configure(sinks=[blocking])
    with released(blocking):
        answer(1)
        lg.flush(timeout=0.2)
        assert blocking.entered.wait(5)
        answer(2)
        started = time.perf_counter()
        flushed = lg.flush(timeout=0.3)
        closed = lg.shutdown(timeout=0.3)
        took = time.perf_counter() - started
    assert not flushed.complete
    assert not closed.complete
    assert closed.pending >= 1
    assert took < 2.0


def test_sink_failing_in_close_is_reported_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    """A sink whose close() raises: shutdown returns and one warning names it."""

    class BadClose(ListSink):
        def close(self) -> None:
            raise RuntimeError("cannot close")

    bad = BadClose()
    lg.configure(sinks=[bad])
    answer(3)
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        result = lg.shutdown(timeout=5)
    assert result.complete
    assert [r.output for r in bad.records] == [6]
    assert any("cannot close" in r.getMessage() for r in caplog.records)


def test_stalled_sink_is_reported_to_the_others(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A sink stuck in emit() past the stall threshold: one warning, one internal record."""
    monkeypatch.setattr(_pipeline, "_HANG_AFTER", 0.1)
    blocking, memory = BlockingSink(), MemorySink()
    lg.configure(sinks=[blocking, memory])
    with released(blocking), caplog.at_level(logging.WARNING, logger="llmguard"):
        answer(1)
        lg.flush(timeout=0.2)
        assert blocking.entered.wait(5)
        deadline = time.monotonic() + 5
        while not memory.find(kind="internal") and time.monotonic() < deadline:
            answer(2)  # wakes the dispatcher, which checks for stalls
            lg.flush(timeout=0.2)
    (internal,) = memory.find(kind="internal")
    assert internal.name.startswith("sink 'blocking' has been stalled for")
    assert len([r for r in caplog.records if "stalled" in r.getMessage()]) == 1
