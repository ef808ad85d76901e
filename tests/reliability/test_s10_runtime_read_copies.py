"""A span written more than once is read as its last copy by every reader that counts:
the commands and `SQLiteStore` on a store from before layout 4 (without writing to
it), and `read_records` on a JSON Lines file, as the commands count it."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import sqlite3
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmguard._core.records import Record
from llmguard.cli import main
from llmguard.cli._dataset import Dataset
from llmguard.sinks import JSONLSink, SQLiteSink, SQLiteStore, read_records
from llmguard.sinks._jsonl import last_copies
from llmguard.sinks.table import COLUMNS, MIGRATIONS, row
from tests._helpers.cli_stores import _records

# How llmguard wrote a batch at layout 3, copied as it was: a span could be written twice.
_QUOTED = ", ".join(f'"{column}"' for column in COLUMNS)
OLD_INSERT = f"INSERT INTO records ({_QUOTED}) VALUES ({', '.join('?' * (len(COLUMNS) - 1))}, '')"
OLD_CONTENT = "INSERT INTO contents (id, body) VALUES (?, ?)"


def _layout_3_store(path: Path, *batches: list[Record]) -> Path:
    conn = sqlite3.connect(path, isolation_level=None)
    for number in range(3):
        MIGRATIONS[number](conn)
    conn.execute("PRAGMA user_version = 3")
    for batch in batches:
        conn.execute("BEGIN IMMEDIATE")
        (last,) = conn.execute("SELECT max(rowid) FROM records").fetchone()
        first = 1 if last is None else last + 1
        rows = [row(record) for record in batch]
        conn.executemany(OLD_INSERT, [made[:-1] for made in rows])
        conn.executemany(OLD_CONTENT, [(first + at, made[-1]) for at, made in enumerate(rows)])
        conn.execute("COMMIT")
    conn.close()
    return path


def _write(path: Path, *batches: list[Record]) -> Path:
    sink = SQLiteSink(path) if path.suffix == ".db" else JSONLSink(path)
    for batch in batches:
        sink.emit(batch)
    sink.close()
    return path


def _stats(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> object:
    assert main(["stats", str(path), "--json", *extra]) == 0
    document = json.loads(capsys.readouterr().out)
    document.pop("path")
    return document


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_layout_3_store_holding_copies_gives_the_figures_of_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The commands counted each copy until a sink migrated the store; now a store at
    layout 3 answers as the same records written once, and is left untouched."""
    first = _records()
    later = [dataclasses.replace(first[0], status="error", error_type="ValueError")]
    old = _layout_3_store(tmp_path / "old.db", first, first, later)
    once = _write(tmp_path / "once.db", first, later)
    before = _digest(old)
    for by in ("name", "status"):
        assert _stats(old, capsys, "--by", by) == _stats(once, capsys, "--by", by)
    with Dataset.open(old) as dataset, Dataset.open(once) as written_once:
        shown = [r for r in dataset.trace(first[0].trace_id) if r.span_id == first[0].span_id]
        assert [r.status for r in shown] == ["error"]
        assert sum(g.calls for g in dataset.stats()) == sum(g.calls for g in written_once.stats())
    assert _digest(old) == before
    with sqlite3.connect(old) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    conn.close()


def test_the_store_reader_counts_a_layout_3_store_s_copies_once(tmp_path: Path) -> None:
    """`SQLiteStore.records`, `count` and `read_records` read each span's last row."""
    first = _records()
    later = [dataclasses.replace(first[0], status="error", error_type="ValueError")]
    old = _layout_3_store(tmp_path / "old.db", first, first, later)
    before = _digest(old)
    with SQLiteStore(old) as store:
        records = list(store.records())
        assert store.count() == len(first)
    assert len(records) == len(first)
    assert len({(r.trace_id, r.span_id) for r in records}) == len(first)
    (copy,) = [r for r in records if r.span_id == first[0].span_id]
    assert copy.status == "error"
    assert len(list(read_records(old))) == len(first)
    assert _digest(old) == before


def test_read_records_over_json_lines_yields_each_span_s_last_copy(tmp_path: Path) -> None:
    """A JSON Lines file holding a batch twice and a later copy: `read_records` yielded
    every copy, the commands counted the last."""
    first = _records()
    later = [dataclasses.replace(first[0], status="error", error_type="ValueError")]
    path = _write(tmp_path / "calls.jsonl", first, first, later)
    found = list(read_records(path))
    assert len(found) == len(first)
    (copy,) = [r for r in found if r.span_id == first[0].span_id]
    assert copy.status == "error"
    assert found[-1] == copy  # where the last copy stands in the file


def test_a_torn_last_copy_leaves_the_copy_before_it(tmp_path: Path) -> None:
    """A hard kill tore the last copy of a span: the one before it is read."""
    first = _records()
    path = _write(tmp_path / "calls.jsonl", first)
    torn = dataclasses.replace(first[0], status="error").to_json()[:60]
    with open(path, "ab") as file:
        file.write(torn + b"\n")
    found = list(read_records(path))
    assert found == first


def test_a_pipe_is_read_as_the_file_it_carries(tmp_path: Path) -> None:
    """Through a FIFO, the copies are read once too."""
    first = _records()
    path = _write(tmp_path / "calls.jsonl", first, first)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as out:
            out.write(path.read_bytes())

    writer = threading.Thread(target=feed)
    writer.start()
    found = list(read_records(fifo))
    writer.join(10)
    assert found == first


_SPANS = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 3), st.sampled_from(["ok", "error"])),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spans=_SPANS, torn=st.lists(st.integers(0, 30), max_size=3))
def test_read_records_agrees_with_the_commands_on_any_file(
    tmp_path: Path, spans: list[tuple[int, int, str]], torn: list[int]
) -> None:
    """Any sequence of spans, copies and torn lines: `read_records` yields the records
    the commands load from the file (the last readable copy of each span, in the
    order of those copies)."""
    records = [
        Record(
            trace_id=f"{trace + 1:032x}",
            span_id=f"{span + 1:016x}",
            name="call",
            kind="llm",
            status=status,
            start=f"2026-01-01T00:00:{at:02d}.000000Z",
            end=f"2026-01-01T00:00:{at:02d}.500000Z",
            duration_ms=float(at),
        )
        for at, (trace, span, status) in enumerate(spans)
    ]
    lines = [r.to_json() for r in records]
    for at in sorted(set(torn), reverse=True):
        if at < len(lines):
            lines.insert(at, lines[at][: len(lines[at]) // 2])
    path = tmp_path / "calls.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    expected: dict[tuple[str, str], Record] = {}
    for record in records:
        expected.pop((record.trace_id, record.span_id), None)
        expected[(record.trace_id, record.span_id)] = record
    assert list(read_records(path)) == list(expected.values())
    with Dataset.open(path) as dataset:
        assert sorted(
            (r.trace_id, r.span_id, r.status)
            for trace in {t for t, _ in expected}
            for r in dataset.trace(trace)
        ) == sorted((r.trace_id, r.span_id, r.status) for r in expected.values())


def test_lines_appended_while_reading_give_no_second_copy(tmp_path: Path) -> None:
    """A sink still writing: what is appended after the first pass is left to the next
    read (its copies were not looked for); the records yielded stay one per span."""
    first = _records()
    path = _write(tmp_path / "calls.jsonl", first)
    reading = read_records(path)
    found = [next(reading)]
    with open(path, "ab") as file:  # a copy of a span already read, and a new span
        file.write(first[0].to_json() + b"\n")
        file.write(dataclasses.replace(first[0], span_id="e" * 16).to_json() + b"\n")
    found.extend(reading)
    assert found == first


class _RewrittenBetweenPasses(io.BytesIO):
    """A file cut and written again (``copytruncate`` rotation) when the reader goes
    back to its start for the second pass."""

    def __init__(self, before: bytes, after: bytes) -> None:
        super().__init__(before)
        self._after: bytes | None = after

    def seek(self, offset: int, whence: int = 0) -> int:
        if offset == 0 and whence == 0 and self._after is not None:
            super().seek(0)
            self.truncate()
            self.write(self._after)
            self._after = None
        return super().seek(offset, whence)


def test_a_file_written_again_between_the_passes_loses_no_record() -> None:
    """The offsets of the first pass's earlier copies hold other spans by the second:
    those lines are read, not left out as copies."""
    one, two = _records()[:2]
    before = b"".join(r.to_json() + b"\n" for r in (one, two, one))
    after = b"".join(r.to_json() + b"\n" for r in (two, one))
    found = list(last_copies(_RewrittenBetweenPasses(before, after), "rotated.jsonl"))
    assert found == [two, one]
