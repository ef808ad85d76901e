"""Delivery: the bounded queue, the background worker, sink isolation, flush and fork."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

import llmguard as lg
from llmguard.sinks import MemorySink, SQLiteStore, read_records
from llmguard.testing import capture
from tests.conftest import ListSink

ROOT = Path(__file__).resolve().parents[1]


class RaisingSink:
    """A sink whose every call fails."""

    def __init__(self) -> None:
        self.calls = 0

    def emit(self, batch: Sequence[lg.Record]) -> None:
        self.calls += 1
        raise OSError("disk on fire")

    def flush(self, timeout: float | None = None) -> None:
        raise OSError("still on fire")

    def close(self) -> None:
        pass


class BlockingSink:
    """A sink whose emit blocks until released."""

    name = "blocking"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    def emit(self, batch: Sequence[lg.Record]) -> None:
        self.entered.set()
        self.release.wait()

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self) -> None:
        self.release.set()


@lg.trace
def answer(x: int) -> int:
    return x * 2


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
    assert lg.stats() == lg.DeliveryStats(
        emitted=0, queued=0, dropped=0, internal_errors=0, sinks=()
    )


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
        assert stats.dropped > 900
        assert stats.queued <= 10
        assert stats.emitted == 1_001
        assert len([r for r in caplog.records if "queue is full" in r.getMessage()]) == 1
    finally:
        blocking.release.set()


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


def test_failing_redactor_drops_content_and_says_so(sink: ListSink) -> None:
    """A redactor that raises drops the record's content (fails closed) and marks it."""

    def broken(record: lg.Record) -> lg.Record:
        raise RuntimeError("regex exploded")

    lg.configure(redact=[broken])
    answer(21)
    lg.flush(timeout=5)
    (record,) = [r for r in sink.records if r.kind == "span"]
    assert record.input is None
    assert record.output is None
    assert record.metadata["llmguard.redaction"] == "failed: RuntimeError"


def test_redactor_runs_before_every_sink() -> None:
    """Redactors see every record first; sinks and captures get the redacted record."""
    memory = MemorySink()

    def hide(record: lg.Record) -> lg.Record:
        return dataclasses.replace(record, input="[hidden]")

    lg.configure(sinks=[memory], redact=hide)
    with capture() as records:
        answer(5)
    lg.flush(timeout=5)
    assert records[0].input == "[hidden]"
    assert memory.records[0].input == "[hidden]"


def test_large_content_is_truncated_with_a_digest() -> None:
    """Content beyond max_content_bytes is shortened, stays JSON, and carries a hash."""
    lg.configure(max_content_bytes=1_000)

    @lg.trace
    def echo(text: str) -> str:
        return text

    with capture() as records:
        echo("x" * 10_000)
    record = records[0]
    assert record.truncated is not None
    assert set(record.truncated) == {"input", "output"}
    assert record.truncated["output"].bytes == 10_002
    assert len(json.dumps(record.output)) <= 1_000
    json.loads(record.to_json())


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


def run_child(code: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("LLMGUARD_SINK", None)
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_normal_exit_delivers_everything(tmp_path: Path) -> None:
    """A process that emits N records and exits has all N in JSONL and in SQLite."""
    child = run_child(
        """
        import llmguard as lg
        lg.configure(sinks=[lg.sinks.JSONLSink("out.jsonl"), lg.sinks.SQLiteSink("out.db")])

        @lg.trace
        def step(i):
            return i

        for i in range(3000):
            step(i)
        """,
        tmp_path,
    )
    _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err.decode()
    outputs = sorted(r.output for r in read_records(tmp_path / "out.jsonl"))
    assert outputs == list(range(3000))
    with SQLiteStore(tmp_path / "out.db") as store:
        assert store.count() == 3000


def test_hard_kill_leaves_readable_files(tmp_path: Path) -> None:
    """SIGKILL mid-stream: every complete JSONL line parses; SQLite opens with its commits."""
    child = run_child(
        """
        import sys, llmguard as lg
        lg.configure(
            sinks=[lg.sinks.JSONLSink("out.jsonl"), lg.sinks.SQLiteSink("out.db")],
            batch_size=50,
        )

        @lg.trace
        def step(i):
            return "x" * 200

        i = 0
        while True:
            step(i)
            i += 1
            if i == 2000:
                lg.flush(timeout=10)
                print("ready", flush=True)
        """,
        tmp_path,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == b"ready"
    time.sleep(0.3)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=10)
    lines = (tmp_path / "out.jsonl").read_bytes().split(b"\n")
    complete = lines[:-1]
    assert len(complete) >= 2000
    for line in complete:
        lg.Record.from_json(line)
    with SQLiteStore(tmp_path / "out.db") as store:
        assert store.count() >= 2000
        assert sum(1 for _ in store.records(limit=10)) == 10


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_delivers_its_own_records(tmp_path: Path) -> None:
    """After os.fork the child restarts delivery and its records reach the sinks."""
    path = tmp_path / "fork.jsonl"
    lg.configure(sinks=[lg.sinks.JSONLSink(path)])
    answer(1)
    lg.flush(timeout=5)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            for i in range(10):
                answer(100 + i)
            code = 0 if lg.flush(timeout=5).complete else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    answer(2)
    lg.flush(timeout=5)
    outputs = sorted(r.output for r in read_records(path))
    assert outputs == sorted([2, 4, *[(100 + i) * 2 for i in range(10)]])


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
