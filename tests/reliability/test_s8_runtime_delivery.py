"""Review attacks on delivery: sinks that change their batch or flush from inside, and
spans that end while the interpreter shuts down."""

from __future__ import annotations

import logging
import re
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

import llmguard as lg
from llmguard.sinks import read_records
from tests._helpers.reliability import run_child
from tests.conftest import ListSink


class ClearingSink:
    """Reads its batch, then empties the list it was given (a drain-style sink)."""

    name = "clearing"

    def __init__(self) -> None:
        self.seen = 0

    def emit(self, batch: Sequence[lg.Record]) -> None:
        self.seen += len(batch)
        if isinstance(batch, list):
            batch.clear()

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self) -> None:
        pass


class FlushingSink:
    """Calls ``lg.flush`` or ``lg.shutdown`` from inside its own ``emit``."""

    def __init__(self, call: str) -> None:
        self.name = f"{call}ing"
        self.call = call
        self.results: list[lg.types.FlushResult] = []
        self.records: list[lg.Record] = []
        self.returned = threading.Event()

    def emit(self, batch: Sequence[lg.Record]) -> None:
        self.records.extend(batch)
        if self.returned.is_set():
            return  # once only
        if self.call == "flush":
            self.results.append(lg.flush(timeout=None))
        else:
            self.results.append(lg.shutdown(timeout=None))
        self.returned.set()

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_sink_emptying_its_batch_takes_nothing_from_the_other_sinks() -> None:
    """One sink clearing the list it got: every other sink still gets every record,
    and each sink's counts are what happened (no negative drops, nothing left pending)."""
    clearing, good = ClearingSink(), ListSink()
    lg.configure(sinks=[clearing, good])
    for i in range(1_000):
        with lg.span("step", i=i):
            pass
    result = lg.flush(timeout=10)
    assert result.complete, result
    assert clearing.seen == 1_000
    assert [r.metadata["i"] for r in good.records] == list(range(1_000))
    stats = {s.name: s for s in lg.stats().sinks}
    assert stats["clearing"].delivered == 1_000
    assert stats["ListSink"].delivered == 1_000
    assert all(s.dropped == 0 and s.pending == 0 for s in stats.values())


def test_flush_from_inside_a_sink_returns_at_once() -> None:
    """``lg.flush(timeout=None)`` inside ``emit`` cannot wait for the very call it is
    in: it returns (naming the record in hand as pending) instead of hanging."""
    flushing = FlushingSink("flush")
    lg.configure(sinks=[flushing])
    with lg.span("one"):
        pass
    result = lg.flush(timeout=10)
    assert flushing.returned.wait(10)
    assert result.complete, result
    assert [r.name for r in flushing.records] == ["one"]
    inner = flushing.results[0]
    assert not inner.complete
    assert inner.pending == 1  # the record the sink holds now
    assert lg.stats().sinks[0].delivered == 1


def test_shutdown_from_inside_a_sink_returns_and_closes() -> None:
    """``lg.shutdown(timeout=None)`` inside ``emit`` returns; the sink's batch still
    counts as delivered and later records start a new pipeline."""
    flushing = FlushingSink("shutdown")
    lg.configure(sinks=[flushing])
    with lg.span("one"):
        pass
    lg.flush(timeout=0.1)
    assert flushing.returned.wait(10)
    assert [r.name for r in flushing.records] == ["one"]
    with lg.span("two"):
        pass
    assert lg.flush(timeout=10).complete
    assert [r.name for r in flushing.records] == ["one", "two"]


def test_flush_from_inside_a_redactor_returns_at_once() -> None:
    """A redactor (on the delivery thread) calling ``lg.flush(timeout=None)`` gets an
    answer instead of waiting on its own thread forever."""
    inner: list[lg.types.FlushResult] = []

    def flushing_redactor(record: lg.Record) -> lg.Record:
        if not inner:
            inner.append(lg.flush(timeout=None))
        return record

    good = ListSink()
    lg.configure(sinks=[good], redact=[flushing_redactor])
    with lg.span("one"):
        pass
    assert lg.flush(timeout=10).complete
    assert [r.name for r in good.records] == ["one"]
    assert len(inner) == 1
    assert not inner[0].complete


def test_exit_with_a_started_traced_generator_alive_does_not_hang(tmp_path: Path) -> None:
    """A traced generator left half-read in a global is finalized after the exit flush;
    its span's end must not wait for a thread that can no longer start."""
    child = run_child(
        """
        import llmguard as lg
        lg.configure(sinks=[lg.sinks.JSONLSink("out.jsonl")])

        @lg.trace
        def words():
            yield "one"
            yield "two"

        @lg.trace
        def step(i):
            return i

        held = words()
        next(held)  # started, never finished: ended by the interpreter's cleanup
        for i in range(100):
            step(i)
        """,
        tmp_path,
    )
    try:
        _, err = child.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        pytest.fail("the process hung at exit")
    assert child.returncode == 0, err.decode()
    outputs = sorted(r.output for r in read_records(tmp_path / "out.jsonl") if r.name == "step")
    assert outputs == list(range(100))


def test_the_same_sink_twice_is_a_configuration_error() -> None:
    """One sink object listed twice would get every record twice, from two threads at
    once (a sink is promised one thread at a time): refused when configured."""
    twice = ListSink()
    with pytest.raises(lg.ConfigurationError, match="ListSink"):
        lg.configure(sinks=[twice, ListSink(), twice])


class LeakySink:
    """A sink whose error message quotes a secret of its own (a connection string)."""

    name = "leaky"

    def emit(self, batch: Sequence[lg.Record]) -> None:
        raise ConnectionError("could not connect to postgres://app:s3cr3t-P4ss@db:5432/app")

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_sink_error_is_redacted_before_other_sinks_and_the_log_see_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The internal record of a failing sink, and the warning, hold its error message
    as the redactors leave it: a password in it never reaches another sink or a log."""
    good = ListSink()
    lg.configure(sinks=[LeakySink(), good])
    with caplog.at_level(logging.WARNING, logger="llmguard"), lg.span("one"):
        pass
    lg.flush(timeout=10)
    lg.flush(timeout=10)  # the internal record, made while the first flush ran
    [internal] = [r for r in good.records if r.kind == "internal"]
    assert internal.error_type == "ConnectionError"
    assert (
        internal.error_message == "could not connect to postgres://app:[url_password]@db:5432/app"
    )
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "leaky" in logged
    assert "s3cr3t" not in logged


def test_a_sink_error_a_redactor_fails_on_is_reported_without_its_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """When a redactor fails on the internal record, its message is left out."""

    def failing(record: lg.Record) -> lg.Record:
        if record.kind == "internal":
            raise RuntimeError("cannot")
        return record

    good = ListSink()
    lg.configure(sinks=[LeakySink(), good], redact=[failing])
    with caplog.at_level(logging.WARNING, logger="llmguard"), lg.span("one"):
        pass
    lg.flush(timeout=10)
    lg.flush(timeout=10)  # the internal record, made while the first flush ran
    internal = [r for r in good.records if r.kind == "internal"]
    assert internal
    assert all("s3cr3t" not in (r.error_message or "") for r in internal)
    assert "s3cr3t" not in " ".join(r.getMessage() for r in caplog.records)


def test_the_exit_warning_counts_every_record_left_behind(tmp_path: Path) -> None:
    """With a sink stuck in ``emit``, the exit warning accounts for every record that
    never reached it: those still pending and those dropped since the last flush."""
    child = run_child(
        """
        import threading
        import llmguard as lg

        class Stuck:
            name = "stuck"
            def emit(self, batch):
                threading.Event().wait()
            def flush(self, timeout=None):
                pass
            def close(self):
                pass

        lg.configure(sinks=[Stuck()], queue_size=100, exit_timeout=1)
        for i in range(1_000):
            with lg.span("step"):
                pass
        """,
        tmp_path,
    )
    _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err.decode()
    text = err.decode()
    found = re.search(r"lost: (\d+) not delivered at exit.*?; (\d+) dropped since", text)
    assert found is not None, text
    assert int(found.group(1)) + int(found.group(2)) == 1_000


def test_the_exit_warning_names_only_what_was_lost(tmp_path: Path) -> None:
    """Records dropped and none left pending: the warning says what was dropped and
    nothing about 0 records not delivered (it said "0 trace records were not delivered
    at exit; 1 more were dropped")."""
    child = run_child(
        """
        import llmguard as lg

        lg.configure(sinks=[lg.sinks.MemorySink()], max_queue_bytes=1024 * 1024)
        with lg.span("huge") as span:
            span.set_attribute("notes", "n" * 700_000)
        """,
        tmp_path,
    )
    _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err.decode()
    lines = [line for line in err.decode().splitlines() if "lost" in line]
    assert lines == ["llmguard: trace records lost: 1 dropped since the last flush"]


def test_a_record_too_large_for_the_queue_is_delivered_without_its_content(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A call whose captured content weighs more than the queue's half of
    ``max_queue_bytes`` keeps its record: input and output are left out, the metadata
    says how much was dropped, nothing is counted as dropped, and the log says why (the
    whole record was dropped, and the warning called the queue full)."""
    sink = ListSink()
    lg.configure(sinks=[sink], max_queue_bytes=1024 * 1024)

    @lg.trace
    def summarize(document: str) -> str:
        return document[:10]

    with caplog.at_level(logging.WARNING, logger="llmguard"):
        assert summarize("x" * 600_000 + " y" * 100) == "x" * 10
        assert lg.flush(timeout=10).complete
    [record] = sink.records
    assert record.name.endswith("summarize")
    assert record.status == "ok"
    assert record.input is None
    assert record.output is None
    note = record.metadata["llmguard.content"]
    assert note.startswith("dropped: 600,")
    assert "max_queue_bytes" in note
    assert lg.stats().dropped == 0
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "larger than" in logged
    assert "is full" not in logged


def test_a_record_that_fits_keeps_its_content_beside_one_that_did_not() -> None:
    """Shedding is for the record that can never fit: the next call keeps its content."""
    sink = ListSink()
    lg.configure(sinks=[sink], max_queue_bytes=1024 * 1024)

    @lg.trace
    def echo(text: str) -> str:
        return text

    echo("z" * 700_000)
    echo("small")
    assert lg.flush(timeout=10).complete
    assert [r.input for r in sink.records] == [None, {"text": "small"}]
    assert [r.output for r in sink.records] == [None, "small"]


def test_a_callback_failing_on_one_record_counts_the_others_delivered() -> None:
    """A ``CallbackSink`` whose function fails on one record of a batch still hands it
    the others: they are counted delivered and only the failed one dropped (the whole
    batch was counted dropped, though nine records had been handed over)."""
    seen: list[str] = []

    def keep(record: lg.Record) -> None:
        if record.name == "bad":
            raise ValueError("cannot take this one")
        seen.append(record.name)

    sink = lg.sinks.CallbackSink(keep)
    lg.configure(sinks=[sink], batch_size=64)
    for index in range(10):
        with lg.span("bad" if index == 4 else f"ok {index}"):
            pass
    lg.flush(timeout=10)
    [stats] = lg.stats().sinks
    assert len(seen) == 9
    assert stats.delivered == 9
    assert stats.dropped == 1
    assert stats.errors >= 1


class _Partial:
    """A third-party sink that writes part of each batch and says so."""

    def __init__(self) -> None:
        self.written: list[lg.Record] = []

    def emit(self, batch: Sequence[lg.Record]) -> None:
        half = len(batch) // 2
        self.written.extend(batch[:half])
        raise lg.PartiallyDelivered(delivered=half) from OSError("disk full")

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_sink_reporting_a_partial_delivery_is_counted_as_it_says() -> None:
    sink = _Partial()
    lg.configure(sinks=[sink], batch_size=64)
    for index in range(10):
        with lg.span(f"s {index}"):
            pass
    flushed = lg.flush(timeout=10)
    [stats] = lg.stats().sinks
    assert stats.delivered == len(sink.written)
    assert stats.delivered + stats.dropped == 10
    assert stats.dropped > 0
    assert not flushed.complete


@pytest.mark.parametrize(("claimed", "counted"), [(-5, 0), (10**6, 4), (2, 2)])
def test_a_partial_delivery_claim_is_held_to_the_batch(claimed: int, counted: int) -> None:
    """A sink's claim is held to the batch: never fewer than none, never more than it
    was given."""

    class Claims(_Partial):
        def emit(self, batch: Sequence[lg.Record]) -> None:
            raise lg.PartiallyDelivered(delivered=claimed)

    lg.configure(sinks=[Claims()], batch_size=64)
    for index in range(4):
        with lg.span(f"s {index}"):
            pass
    lg.flush(timeout=10)
    [stats] = lg.stats().sinks
    assert stats.delivered == counted
    assert stats.dropped == 4 - counted


@pytest.mark.parametrize("claim", [None, 1.5, "2", True], ids=repr)
def test_a_partial_delivery_claim_that_is_no_count_drops_the_batch(claim: object) -> None:
    """``delivered`` changed after construction to something that is no count (or a
    property that raises) counts the whole batch dropped; the sink's thread lives on
    and later batches are delivered (a None stopped the thread, a float made the counts
    fractional)."""

    class Claims(_Partial):
        failing = True

        def emit(self, batch: Sequence[lg.Record]) -> None:
            if not self.failing:
                self.written.extend(batch)
                return
            error = lg.PartiallyDelivered(delivered=1)
            error.delivered = claim  # type: ignore[assignment]
            raise error

    sink = Claims()
    lg.configure(sinks=[sink], batch_size=64)
    for index in range(4):
        with lg.span(f"s {index}"):
            pass
    lg.flush(timeout=10)
    sink.failing = False
    with lg.span("later"):
        pass
    assert lg.flush(timeout=10).complete
    [stats] = lg.stats().sinks
    assert (stats.delivered, stats.dropped) == (1, 4)
    assert [r.name for r in sink.written] == ["later"]


def test_a_record_too_large_in_its_attributes_is_dropped_and_said_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A record whose attributes alone weigh more than the queue's half is dropped and
    counted, with a warning saying why (it lost its content, was dropped anyway, and
    the warning said the content had been left out)."""
    sink = ListSink()
    lg.configure(sinks=[sink], max_queue_bytes=1024 * 1024)
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        with lg.span("huge") as span:
            span.set_attribute("notes", "n" * 700_000)
        with lg.span("fine"):
            pass
        flushed = lg.flush(timeout=10)
    assert not flushed.complete  # one record was dropped
    assert flushed.dropped == 1
    assert [r.name for r in sink.records] == ["fine"]
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "a record was dropped: larger than the delivery queue holds" in logged
    assert "left out of its record" not in logged


def test_configure_from_inside_a_sink_does_not_wait_on_its_own_thread() -> None:
    """A sink that reconfigures llmguard from ``emit`` (to switch itself off, say) gets
    ``configure()`` back at once: it waited a second for the old pipeline's close,
    which waited for this very ``emit`` to return."""
    waited: list[float] = []
    replacement = ListSink()

    class Switching(ListSink):
        def emit(self, batch: Sequence[lg.Record]) -> None:
            super().emit(batch)
            started = time.monotonic()
            lg.configure(sinks=[replacement])
            waited.append(time.monotonic() - started)

    lg.configure(sinks=[Switching()])
    with lg.span("first"):
        pass
    lg.flush(timeout=10)
    with lg.span("second"):
        pass
    assert lg.flush(timeout=10).complete
    assert waited
    assert waited[0] < 0.5  # the bug waited the full second
    assert [r.name for r in replacement.records] == ["second"]
