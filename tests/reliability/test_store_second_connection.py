"""The query commands' second connection as an operator's store would meet it:
symlinks, old layouts, empty stores, records still in the WAL, another process writing
while the report runs, and errors on either side."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from llmguard._core.records import Record
from llmguard.cli import main
from llmguard.cli._dataset import Dataset, DatasetError, Window
from llmguard.sinks import SQLiteSink, table
from tests._helpers.cli_stores import _call, _records

_GROUPINGS = (("name",), ("prompt",), ("day", "name"), ("day", "status"))
_WINDOW = Window("2026-01-02T00:00:00.000000Z", "2026-01-03T12:00:00.000000Z")


def _answers(dataset: Dataset) -> list[object]:
    """What the report asks of a dataset, as plain data."""
    found: list[object] = []
    for window in (Window(), _WINDOW):
        dataset.prefetch_summaries(_GROUPINGS, window)
        dataset.prefetch_calls(window, order_by="duration_ms", limit=4)
        found.append([c.span_id for c in dataset.calls(window, order_by="duration_ms", limit=4)])
        found.append(repr(dataset.summaries(_GROUPINGS, window)))
        found.append(repr(dataset.summary(("name",), window)))
        found.append(repr(dataset.feedback_scores_by([("name",), ("prompt",)], window)))
    return found


def _side_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("llmguard-query")]


def _both(path: Path) -> tuple[list[object], list[object], bool]:
    """The answers on one connection, on two, and whether the second was really used."""
    with Dataset.open(path, second_connection=False) as alone:
        one = _answers(alone)
    with Dataset.open(path) as shared:
        two = _answers(shared)
        used = shared._side is not None
    assert not _side_threads()
    return one, two, used


def _sink_store(path: Path, records: list[Record]) -> Path:
    sink = SQLiteSink(path)
    sink.emit(records)
    sink.close()
    return path


def _many() -> list[Record]:
    extra = [
        _call(20 + n, "abc"[n % 3], 5.0 * n, prompt_name="p", prompt_version=f"v{n % 2}")
        for n in range(30)
    ]
    return [*_records(), *extra]


def test_a_store_reached_through_a_symlink_uses_both_connections(tmp_path: Path) -> None:
    """A symlink to a store: the second connection opens the same file (the identity
    check follows the link as the main connection's open does) and answers the same."""
    target = _sink_store(tmp_path / "real.db", _many())
    link = tmp_path / "link.db"
    link.symlink_to(target)
    one, two, used = _both(link)
    assert used
    assert two == one
    assert two == _both(target)[0]


def test_a_symlink_swung_to_another_store_falls_back_to_one_connection(
    tmp_path: Path,
) -> None:
    """The link pointed elsewhere after the main connection opened: the answers stay
    those of the store that was opened."""
    first = _sink_store(tmp_path / "first.db", _many())
    other = _sink_store(tmp_path / "other.db", [_call(99, "z", 1.0)])
    link = tmp_path / "link.db"
    link.symlink_to(first)
    with Dataset.open(first, second_connection=False) as alone:
        expected = _answers(alone)
    with Dataset.open(link) as dataset:
        link.unlink()
        link.symlink_to(other)
        assert _answers(dataset) == expected
        assert dataset._side is None


def test_an_empty_store_answers_as_on_one_connection(tmp_path: Path) -> None:
    """A store whose records were all deleted: nothing to say, said the same way."""
    path = _sink_store(tmp_path / "empty.db", _records())
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM records")
    conn.close()
    one, two, _ = _both(path)
    assert two == one


def _version_1_store(path: Path, records: list[Record]) -> Path:
    conn = sqlite3.connect(path, isolation_level=None)
    table.MIGRATIONS[0](conn)
    conn.execute("PRAGMA user_version = 1")
    old = ", ".join(f'"{c}"' for c in table.COLUMNS[:17])
    for record in records:
        row = table.row(record)
        conn.execute(
            f"INSERT INTO records ({old}, json) VALUES ({', '.join('?' * 18)})",
            row[:17] + row[-1:],
        )
    conn.close()
    return path


def _version_2_store(path: Path, records: list[Record]) -> Path:
    conn = sqlite3.connect(path, isolation_level=None)
    table.MIGRATIONS[0](conn)
    table.MIGRATIONS[1](conn)
    conn.execute("PRAGMA user_version = 2")
    old = table.COLUMNS[: table.COLUMNS.index("repair")]
    conn.executemany(
        f"INSERT INTO records ({', '.join(f'{c!r}' for c in old)}, json)"
        f" VALUES ({', '.join('?' * (len(old) + 1))})",
        [table.row(r)[: len(old)] + table.row(r)[-1:] for r in records],
    )
    conn.close()
    return path


@pytest.mark.parametrize("layout", [_version_1_store, _version_2_store])
def test_old_layouts_answer_as_on_one_connection(tmp_path: Path, layout: object) -> None:
    """Stores written before today's layout (JSON read through SQL functions registered
    per connection) answer the same on the second connection."""
    path = layout(tmp_path / "old.db", _many())  # type: ignore[operator]
    one, two, used = _both(path)
    assert used
    assert two == one


def test_records_still_in_the_wal_are_seen_by_both_connections(tmp_path: Path) -> None:
    """A writer that has not checkpointed: the last records live in the -wal file only.
    Both connections read them, so the answers are one connection's, new records in."""
    path = _sink_store(tmp_path / "live.db", _records())
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    assert writer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    late = [_call(40 + n, "late", 7.0) for n in range(5)]
    columns = ", ".join(f'"{c}"' for c in table.COLUMNS)
    rows = [table.row(r) for r in late]
    holes = ", ".join("?" * len(rows[0]))
    writer.executemany(f"INSERT INTO records ({columns}) VALUES ({holes})", rows)
    try:
        assert Path(f"{path}-wal").stat().st_size > 0
        one, two, used = _both(path)
        assert used
        assert two == one
        assert "late" in str(two[2])
    finally:
        writer.close()


_WRITER = textwrap.dedent(
    """
    import sys, time
    from llmguard._core.records import Record
    from llmguard.sinks import SQLiteSink
    sink = SQLiteSink(sys.argv[1])
    n = 0
    deadline = time.monotonic() + float(sys.argv[2])
    print("ready", flush=True)
    while time.monotonic() < deadline:
        batch = []
        for _ in range(50):
            n += 1
            batch.append(Record(
                trace_id=f"{n % 13:032x}", span_id=f"{10**6 + n:016x}", name="w" + str(n % 3),
                kind="llm", start=f"2026-01-02T10:{n % 60:02d}:00.000000Z",
                end=f"2026-01-02T10:{n % 60:02d}:01.000000Z", duration_ms=float(n % 97),
            ))
        sink.emit(batch)
        time.sleep(0.005)  # a steady writer, not a flood: the store stays small
    sink.close()
    """
)


def test_a_report_while_another_process_writes_the_store(tmp_path: Path) -> None:
    """SQLiteSink writing from another process while the report runs with both
    connections: every report is written, and once the writer is done the answers
    are one connection's."""
    path = _sink_store(tmp_path / "busy.db", _many())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), "1.5"],
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == b"ready"
        runs = 0
        while writer.poll() is None and runs < 4:
            out = tmp_path / f"report-{runs}.html"
            assert main(["report", str(path), "-o", str(out)]) == 0
            assert out.stat().st_size > 0
            with Dataset.open(path) as dataset:
                _answers(dataset)
            runs += 1
        assert runs > 0
    finally:
        writer.wait(timeout=60)
        if writer.stdout is not None:
            writer.stdout.close()
    assert writer.returncode == 0
    one, two, used = _both(path)
    assert used
    assert two == one


def test_an_error_in_a_side_job_is_raised_on_the_caller_with_its_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A query failing on the side thread (the store damaged under it) reaches the
    caller as the same exception type, and closing leaves no side thread behind."""
    path = _sink_store(tmp_path / "calls.db", _many())
    sums = Dataset._sums

    def failing(self: Dataset, *args: object, **kwargs: object) -> object:
        if threading.current_thread().name.startswith("llmguard-query"):
            raise sqlite3.DatabaseError("database disk image is malformed")
        return sums(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Dataset, "_sums", failing)
    dataset = Dataset.open(path)
    try:
        dataset.prefetch_summaries(_GROUPINGS, Window())
        time.sleep(0.05)  # the side thread takes its first job
        with pytest.raises(sqlite3.DatabaseError, match="malformed"):
            dataset.summaries(_GROUPINGS, Window())
    finally:
        dataset.close()
    assert not _side_threads()


def test_an_error_on_the_main_thread_does_not_wait_for_an_error_on_the_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both connections fail: the caller gets the main thread's error, and the side
    thread's is not left to surface later (closing is clean)."""
    path = _sink_store(tmp_path / "calls.db", _many())

    def failing(self: Dataset, *args: object, **kwargs: object) -> object:
        if threading.current_thread().name.startswith("llmguard-query"):
            time.sleep(0.05)
            raise RuntimeError("side")
        raise DatasetError("main")

    monkeypatch.setattr(Dataset, "_sums", failing)
    dataset = Dataset.open(path)
    try:
        dataset.prefetch_summaries(_GROUPINGS, Window())
        with pytest.raises(DatasetError, match="main"):
            dataset.summaries(_GROUPINGS, Window())
    finally:
        dataset.close()
    assert not _side_threads()


def test_a_jsonl_store_never_starts_a_side_thread(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_text("".join(r.to_json().decode() + "\n" for r in _many()))
    with Dataset.open(path) as dataset:
        jsonl = _answers(dataset)
        assert dataset._side is None
        assert not _side_threads()
    one, _, _ = _both(_sink_store(tmp_path / "calls.db", _many()))
    assert jsonl == one


def test_a_store_with_unusable_start_times_answers_as_on_one_connection(
    tmp_path: Path,
) -> None:
    """Rows whose start is no time (a store not written by SQLiteSink) are left out by
    a clause both connections must apply: the same answers, the same count skipped."""
    path = _sink_store(tmp_path / "odd.db", _many())
    with sqlite3.connect(path) as conn:
        conn.execute("""UPDATE records SET "start" = 'yesterday' WHERE rowid % 4 = 0""")
        conn.execute("""UPDATE records SET "start" = '9999-01-01T00:00:00Z' WHERE rowid % 9 = 1""")
    conn.close()
    one, two, used = _both(path)
    assert used
    assert two == one
    with Dataset.open(path) as dataset:
        assert dataset.unusable > 0
