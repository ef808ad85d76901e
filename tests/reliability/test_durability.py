"""What survives an exit, a hard kill and a fork: JSON Lines and SQLite on disk."""

from __future__ import annotations

import logging
import os
import random
import signal
import sqlite3
import time
from pathlib import Path

import pytest

import llmguard as lg
from llmguard.cli._dataset import Dataset
from llmguard.sinks import JSONLSink, SQLiteSink, SQLiteStore, read_records
from llmguard.sinks._jsonl import read_jsonl
from tests._helpers.reliability import answer, figure, fork, run_child

KILL_RUNS = 4


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


# The child flushes every 500 records and says how many are committed; its records are
# large, so that one batch is one multi-megabyte write the kill can land in.
_WRITER = """
    import sys, llmguard as lg
    lg.configure(
        sinks=[lg.sinks.JSONLSink("out.jsonl"), lg.sinks.SQLiteSink("out.db")],
        batch_size=256,
    )

    @lg.trace
    def step(i):
        return "x" * 4000

    i = 0
    while True:
        step(i)
        i += 1
        if i % 500 == 0:
            assert lg.flush(timeout=10)
            print(i, flush=True)
"""


@pytest.mark.parametrize("run", range(KILL_RUNS))
def test_hard_kill_leaves_readable_files(
    tmp_path: Path, run: int, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGKILL mid-write: only the last JSONL line may be torn, and readers skip it
    silently; every SQLite commit is there and the database is intact."""
    child = run_child(_WRITER, tmp_path)
    assert child.stdout is not None
    assert int(child.stdout.readline()) == 500
    time.sleep(random.Random(run).uniform(0.05, 0.4))
    child.send_signal(signal.SIGKILL)
    out, _ = child.communicate(timeout=10)
    assert child.returncode == -signal.SIGKILL
    committed = max([500, *(int(line) for line in out.split())])

    lines = (tmp_path / "out.jsonl").read_bytes().split(b"\n")
    whole, tail = lines[:-1], lines[-1]
    for line in whole:
        lg.Record.from_json(line)  # every newline-terminated line is a whole record
    torn = tail != b""
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        read = sum(1 for _ in read_jsonl(tmp_path / "out.jsonl"))
        with Dataset.open(tmp_path / "out.jsonl") as dataset:
            loaded = dataset._conn.execute("SELECT count(*) FROM records").fetchone()[0]
    assert read == loaded == len(whole) >= committed
    assert caplog.records == []

    with sqlite3.connect(tmp_path / "out.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with SQLiteStore(tmp_path / "out.db") as store:
        assert store.count() >= committed
        assert sum(1 for _ in store.records(limit=10)) == 10
    figure(
        f"SIGKILL run {run}: {committed} committed, {len(whole)} JSONL lines whole, "
        f"torn tail: {torn}"
    )


def _fork_child_work() -> None:
    for i in range(10):
        answer(100 + i)
    if not lg.flush(timeout=5).complete:
        raise SystemExit(1)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_delivers_its_own_records(tmp_path: Path) -> None:
    """After os.fork the child restarts delivery and its records reach the sinks."""
    path = tmp_path / "fork.jsonl"
    lg.configure(sinks=[JSONLSink(path)])
    answer(1)
    lg.flush(timeout=5)
    assert fork(_fork_child_work) == 0
    answer(2)
    lg.flush(timeout=5)
    outputs = sorted(r.output for r in read_records(path))
    assert outputs == sorted([2, 4, *[(100 + i) * 2 for i in range(10)]])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_with_records_in_flight_delivers_each_exactly_once(tmp_path: Path) -> None:
    """Forked while the parent's records are still queued: the parent delivers its own,
    the child its own, to JSONL and SQLite alike, and nothing twice."""
    jsonl, db = tmp_path / "fork.jsonl", tmp_path / "fork.db"
    lg.configure(sinks=[JSONLSink(jsonl), SQLiteSink(db)], batch_size=10_000)
    answer(0)
    assert lg.flush(timeout=5)  # the dispatcher and both lanes are running
    for i in range(1, 300):
        answer(i)  # fewer than a batch: these wait in the queue across the fork
    assert fork(_fork_child_work) == 0
    assert lg.flush(timeout=5)
    expected = sorted([*(i * 2 for i in range(300)), *((100 + i) * 2 for i in range(10))])
    assert sorted(r.output for r in read_records(jsonl)) == expected
    assert sorted(r.output for r in read_records(db)) == expected


def test_restart_after_a_torn_line_loses_no_new_record(tmp_path: Path) -> None:
    """A process appending to a file whose last line a kill tore keeps every new record:
    the torn fragment stays a line of its own, which readers skip."""
    path = tmp_path / "out.jsonl"
    sink = JSONLSink(path)
    sink.emit([_record(i) for i in range(3)])
    sink.close()
    whole = path.read_bytes()
    path.write_bytes(whole + _record(3).to_json()[:40])  # what a kill mid-write leaves
    child = run_child(
        """
        import llmguard as lg
        lg.configure(sinks=[lg.sinks.JSONLSink("out.jsonl")])

        @lg.trace
        def step(i):
            return i

        for i in range(100):
            step(i)
        """,
        tmp_path,
    )
    _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err.decode()
    records = list(read_jsonl(path))
    assert [r.span_id for r in records[:3]] == [f"{i:016x}" for i in range(3)]
    assert [r.output for r in records[3:]] == list(range(100))


def _record(index: int) -> lg.Record:
    return lg.Record(
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id=f"{index:016x}",
        name="step",
        start="2025-01-01T00:00:00.000000Z",
        end="2025-01-01T00:00:01.000000Z",
        duration_ms=1000.0,
    )
