"""A span ended on a worker thread at the moment the main thread shuts delivery down:
the worker took the pipeline in place just before ``lg.shutdown()`` swapped it out, and
queues its span once that pipeline's dispatcher has stopped. The record was neither
delivered nor counted anywhere anyone could ask, and the next flush said complete; the
pipeline in place takes it now."""

from __future__ import annotations

import threading

import pytest

import llmguard as lg
from llmguard._delivery import pipeline
from llmguard.sinks import MemorySink


def test_a_span_queued_after_its_pipeline_closed_is_delivered_or_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker is held between taking the pipeline and queuing its span; the main
    thread shuts down and the dispatcher ends; then the worker queues it."""
    sink = MemorySink()
    lg.configure(sinks=[sink])
    with lg.span("first"):
        pass
    old = pipeline._pipeline()
    assert lg.flush(timeout=10).complete
    held, release = threading.Event(), threading.Event()
    real = pipeline._Pipeline.submit
    worker: list[int] = []

    def late_submit(self: pipeline._Pipeline, item: pipeline.Pending) -> None:
        if worker == [threading.get_ident()]:
            held.set()
            release.wait(10)
        real(self, item)

    monkeypatch.setattr(pipeline._Pipeline, "submit", late_submit)

    def work() -> None:
        worker.append(threading.get_ident())
        with lg.span("late"):
            pass

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    assert held.wait(10)
    lg.shutdown(timeout=10)
    assert old._thread is not None
    old._thread.join(10)
    release.set()
    thread.join(10)
    result = lg.flush(timeout=10)
    names = [r.name for r in sink.records if r.kind != "internal"]
    assert result.complete
    assert names == ["first", "late"]
