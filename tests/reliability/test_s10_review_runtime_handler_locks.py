"""A signal handler runs on the application's thread between two of its steps, so it
finds every lock that thread holds taken. One calling ``lg.flush()`` (the usual SIGTERM
handler) while the thread was inside ``lg.flush()`` or ``lg.stats()``, and one ending a
span while the thread started the delivery thread, waited forever for a lock their own
thread held. The handler is called at that step, deterministically; the thread runs
apart so that a hang fails the test instead of the run."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

import llmguard as lg
from llmguard._delivery import pipeline
from llmguard.sinks import MemorySink


def _names(sink: MemorySink) -> list[str]:
    return [r.name for r in sink.records if r.kind != "internal"]


def _on_thread(work: Callable[[], object]) -> threading.Event:
    done = threading.Event()

    def run() -> None:
        work()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done


class _WakeThen(threading.Event):
    """The dispatcher's wake-up event; its next ``set`` from ``ident``'s thread is
    followed by ``then()``, as a handler runs right after the call."""

    def __init__(self, then: Callable[[], None]) -> None:
        super().__init__()
        self._then: Callable[[], None] | None = then
        self.ident: int | None = None

    def set(self) -> None:
        super().set()
        if threading.get_ident() == self.ident:
            then, self._then = self._then, None
            if then is not None:
                then()


@pytest.mark.parametrize("handler_call", ["flush", "shutdown"])
def test_a_handler_flushing_while_the_thread_flushes_does_not_hang(handler_call: str) -> None:
    """The thread is in ``lg.flush()`` holding delivery's progress lock when the
    handler calls ``lg.flush()`` or ``lg.shutdown()``: both return, every record is
    delivered."""
    sink = MemorySink()
    lg.configure(sinks=[sink])
    with lg.span("first"):
        pass
    active = pipeline._pipeline()
    assert lg.flush(timeout=10).complete
    handled: list[bool] = []

    def handler() -> None:
        with lg.span("from-handler"):
            pass
        handled.append(getattr(lg, handler_call)(timeout=10).complete)

    wake = _WakeThen(handler)
    active._wake = wake

    def work() -> None:
        wake.ident = threading.get_ident()
        with lg.span("second"):
            pass
        lg.flush(timeout=10)

    assert _on_thread(work).wait(15), "the thread hung on delivery's progress lock"
    assert handled == [True]
    assert _names(sink) == ["first", "second", "from-handler"]


def test_a_handler_flushing_while_the_thread_reads_the_counts_does_not_hang() -> None:
    """The thread is in ``lg.stats()`` (a metrics loop) when the handler flushes."""
    sink = MemorySink()
    lg.configure(sinks=[sink])
    with lg.span("first"):
        pass
    active = pipeline._pipeline()
    assert lg.flush(timeout=10).complete
    (lane,) = active._lanes
    real = lane.stats
    handled: list[bool] = []
    entered: list[bool] = []

    def stats() -> object:
        if not entered:  # the handler's own flush reads the counts too
            entered.append(True)
            handled.append(lg.flush(timeout=10).complete)
        return real()

    lane.stats = stats  # type: ignore[method-assign]
    assert _on_thread(lg.stats).wait(15), "the thread hung on delivery's progress lock"
    assert handled == [True]


def test_a_handler_ending_a_span_while_delivery_starts_does_not_hang(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first span of a pipeline starts its delivery thread (loading the serializer
    first, under the start lock); a handler ending a span then waited for that lock.
    Both spans are delivered, by one delivery thread."""
    sink = MemorySink()
    lg.configure(sinks=[sink])
    real = pipeline.warm
    handled: list[bool] = []

    def warm(settings: object) -> None:
        if not handled:
            handled.append(True)
            with lg.span("from-handler"):
                pass
        real(settings)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "warm", warm)

    def work() -> None:
        with lg.span("first"):
            pass

    assert _on_thread(work).wait(15), "the thread hung on delivery's start lock"
    assert handled == [True]
    assert lg.flush(timeout=10).complete
    assert sorted(_names(sink)) == ["first", "from-handler"]
    starts = [t for t in threading.enumerate() if t is pipeline._pipeline()._thread]
    assert len(starts) == 1
    assert len([t for t in threading.enumerate() if t.name == "llmguard-delivery"]) >= 1


def test_a_handler_ending_a_span_while_the_pipeline_is_built_does_not_hang(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first span after a shutdown builds the next pipeline under the process-wide
    lock; a handler ending a span then waited for that lock. Both spans reach the sink,
    through one pipeline."""
    sink = MemorySink()
    lg.configure(sinks=[sink])
    lg.shutdown(timeout=10)
    real = pipeline._config.settings
    worker: list[int] = []
    handled: list[bool] = []

    def settings() -> object:
        if worker == [threading.get_ident()] and pipeline._active is None and not handled:
            handled.append(True)
            with lg.span("from-handler"):
                pass
        return real()

    monkeypatch.setattr(pipeline._config, "settings", settings)

    def work() -> None:
        worker.append(threading.get_ident())
        with lg.span("first"):
            pass

    assert _on_thread(work).wait(15), "the thread hung on the pipeline's lock"
    monkeypatch.setattr(pipeline._config, "settings", real)
    assert handled == [True]
    assert lg.flush(timeout=10).complete
    assert sorted(_names(sink)) == ["first", "from-handler"]


def test_a_handler_ending_a_span_while_a_capture_collects_does_not_hang() -> None:
    """Under ``lg.testing.capture()``, a handler's span ended while this thread adds
    its record to the captures waited for the captures' lock; both records are kept."""
    handled: list[bool] = []

    class Bucket(list):  # type: ignore[type-arg]
        def append(self, record: object) -> None:
            super().append(record)
            if not handled:
                handled.append(True)
                with lg.span("from-handler"):
                    pass

    lg.configure(sinks=[MemorySink()])
    bucket = Bucket()
    with pipeline._captures_lock:
        pipeline._captures.append(bucket)
    try:

        def work() -> None:
            with lg.span("first"):
                pass

        assert _on_thread(work).wait(15), "the thread hung on the captures' lock"
    finally:
        # bounded: before the fix the hung thread holds the lock for good
        if pipeline._captures_lock.acquire(timeout=5):
            try:
                pipeline._captures.remove(bucket)
            finally:
                pipeline._captures_lock.release()
    assert handled == [True]
    assert [r.name for r in bucket] == ["first", "from-handler"]


def test_a_handler_ending_a_span_while_the_pipeline_holds_its_sinks_does_not_hang(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same, a step further: the new pipeline is recording which sinks it holds
    (under the holders' lock) when the handler's span builds one too."""
    sink = MemorySink()
    lg.configure(sinks=[sink])
    lg.shutdown(timeout=10)
    worker: list[int] = []
    handled: list[bool] = []

    class Holders(dict):  # type: ignore[type-arg]
        def setdefault(self, key: object, default: object = None) -> object:
            found = super().setdefault(key, default)
            if worker == [threading.get_ident()] and not handled:
                handled.append(True)
                with lg.span("from-handler"):
                    pass
            return found

    monkeypatch.setattr(pipeline, "_holders", Holders(pipeline._holders))

    def work() -> None:
        worker.append(threading.get_ident())
        with lg.span("first"):
            pass

    assert _on_thread(work).wait(15), "the thread hung on the holders' lock"
    assert handled == [True]
    assert lg.flush(timeout=10).complete
    assert sorted(_names(sink)) == ["first", "from-handler"]
    lg.shutdown(timeout=10)
    assert pipeline._holders == {}
