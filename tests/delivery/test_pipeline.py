"""Delivery: the bounded queue, the background worker, sink isolation, flush and fork."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

import llmguard as lg
from llmguard.sinks import read_records
from tests._helpers.reliability import RaisingSink, answer
from tests.conftest import ListSink


def test_records_reach_the_sink_after_flush(sink: ListSink) -> None:
    """Records are delivered in the background and flush waits for them."""
    for i in range(50):
        answer(i)
    result = lg.flush(timeout=5)
    assert result.complete
    assert bool(result)
    assert [r.output for r in sink.records] == [i * 2 for i in range(50)]
    assert sink.flushes == 1
    stats = lg.stats()
    assert stats.emitted == 50
    assert stats.sinks[0].delivered == 50


def test_no_sink_means_nothing_is_queued() -> None:
    """With no sink configured, nothing is queued or counted."""
    answer(1)
    assert lg.stats() == lg.types.DeliveryStats(
        emitted=0, queued=0, dropped=0, internal_errors=0, sinks=()
    )


def test_strict_mode_raises_sink_errors_on_the_callers_thread() -> None:
    """strict=True delivers synchronously and lets a sink's exception propagate."""
    lg.configure(sinks=[RaisingSink()], strict=True)
    with pytest.raises(OSError, match="disk on fire"):
        answer(1)


def test_strict_mode_delivers_synchronously(sink: ListSink) -> None:
    """strict=True puts the record in the sink before the call returns."""
    lg.configure(strict=True)
    answer(3)
    assert [r.output for r in sink.records] == [6]


def test_reconfiguring_sinks_flushes_and_closes_the_old_ones() -> None:
    """configure(sinks=...) delivers what the old sinks were owed, then closes them."""
    old, new = ListSink(), ListSink()
    lg.configure(sinks=[old])
    answer(1)
    lg.configure(sinks=[new])
    answer(2)
    lg.flush(timeout=5)
    assert [r.output for r in old.records] == [2]
    assert old.closed
    assert [r.output for r in new.records] == [4]
    assert not new.closed


def test_shutdown_closes_sinks(sink: ListSink) -> None:
    """shutdown() flushes and closes the sinks."""
    answer(1)
    result = lg.shutdown(timeout=5)
    assert result.complete
    assert sink.closed
    assert len(sink.records) == 1


def test_env_var_configures_a_sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """LLMGUARD_SINK=jsonl:///path sends records there without code."""
    path = tmp_path / "env.jsonl"
    monkeypatch.setenv("LLMGUARD_SINK", f"jsonl:///{path}")
    lg.reset()
    answer(4)
    lg.flush(timeout=5)
    assert [r.output for r in read_records(path)] == [8]


def test_bad_env_var_is_one_warning_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An unusable LLMGUARD_SINK logs one warning naming it; calls work, nothing is sent."""
    monkeypatch.setenv("LLMGUARD_SINK", "ftp://nowhere")
    lg.reset()
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        assert answer(1) == 2
        assert answer(2) == 4
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1
    assert "ftp://nowhere" in messages[0]
    assert lg.stats().sinks == ()


class _SizesSink(ListSink):
    """Holds its first call until released, and notes the size of every batch."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []
        self.release = threading.Event()

    def emit(self, batch: object) -> None:
        self.release.wait(5)
        self.sizes.append(len(batch))  # type: ignore[arg-type]
        super().emit(batch)


def test_a_sink_that_fell_behind_gets_the_waiting_records_in_batches_up_to_batch_size() -> None:
    """Records reach a lane in small chunks; a sink that is slow to take them then gets
    what waits in its backlog in fewer calls of at most ``batch_size`` records, each
    record once and in order."""
    sink = _SizesSink()
    lg.configure(sinks=[sink], batch_size=200)
    for i in range(1000):
        answer(i)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and lg.stats().sinks[0].pending < 1000 - 64:
        time.sleep(0.01)  # the dispatcher hands everything over while the sink is held
    sink.release.set()
    assert lg.flush(timeout=5)
    assert [r.output for r in sink.records] == [i * 2 for i in range(1000)]
    assert max(sink.sizes) <= 200
    assert len(sink.sizes) <= 8  # one held call, then batches joined up to 200
    assert lg.stats().sinks[0].delivered == 1000


def test_concurrent_flushes_each_return_once_their_records_are_delivered(sink: ListSink) -> None:
    """Flushes started from other threads at different points of a stream of records
    each return having seen delivered every record emitted before it began."""
    outcomes: list[tuple[int, int]] = []

    def flush_after(emitted: int) -> None:
        lg.flush(timeout=10)
        outcomes.append((emitted, lg.stats().sinks[0].delivered))

    threads = []
    start = time.monotonic()
    for i in range(1000):
        answer(i)
        if i + 1 in (50, 300, 700):
            threads.append(threading.Thread(target=flush_after, args=(i + 1,)))
            threads[-1].start()
    assert lg.flush(timeout=10)
    for thread in threads:
        thread.join(10)
    assert time.monotonic() - start < 5  # woken when done, not at their timeout
    assert sorted(emitted for emitted, _ in outcomes) == [50, 300, 700]
    assert all(delivered >= emitted for emitted, delivered in outcomes)
    assert len(sink.records) == 1000
