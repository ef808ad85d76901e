"""Tests for llmguard.sinks.JSONLSink and read_jsonl."""

from __future__ import annotations

import errno
import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmguard._core.records import ContentDigest, Record, StreamInfo, Usage
from llmguard.exceptions import ConfigurationError
from llmguard.sinks import JSONLSink, Sink
from llmguard.sinks._jsonl import read_jsonl
from tests._helpers.reliability import fork


def _record(index: int, **fields: object) -> Record:
    values: dict[str, object] = {
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "span_id": f"{index:016x}",
        "name": "triage",
        "start": f"2025-01-01T00:00:{index % 60:02d}.000000Z",
        "end": f"2025-01-01T00:00:{index % 60:02d}.500000Z",
        "duration_ms": 500.0,
    }
    values.update(fields)
    return Record(**values)  # type: ignore[arg-type]


def _rich_record(index: int) -> Record:
    return _record(
        index,
        parent_id="b7ad6b7169203331",
        kind="llm",
        status="error",
        error_type="SchemaViolation",
        error_message="urgency: Input should be less than or equal to 5",
        service="support-bot",
        model="gpt-4o-mini",
        provider="openai",
        prompt_name="triage",
        prompt_version="3f9c2a1b",
        usage=Usage(input=412, output=38, cached_input=128, total=450, estimated=True),
        cost_usd=0.0000846,
        attempt={"number": 2, "errors": [{"path": ["urgency"], "message": "too big"}]},
        limits={"max_output_tokens": {"set": 300, "used": 38}},
        input={"messages": [{"role": "user", "content": "Ticket: charged twice ✓"}]},
        output={"category": "billing", "urgency": 9},
        truncated={"input": ContentDigest(bytes=20_000, sha256="ab" * 32)},
        stream=StreamInfo(items=12, end="closed"),
        tags=("prod", "eu"),
        metadata={"tenant": "acme", "nested": {"list": [1, 2.5, None, "x"]}},
        sample_weight=4.0,
    )


def test_emit_writes_one_line_per_record(tmp_path: Path) -> None:
    """Each record becomes its ``to_json()`` on a line of its own."""
    path = tmp_path / "trace.jsonl"
    sink = JSONLSink(path)
    records = [_record(0), _record(1)]
    sink.emit(records)
    sink.flush()
    assert path.read_bytes() == records[0].to_json() + b"\n" + records[1].to_json() + b"\n"
    sink.close()


def test_round_trip_keeps_nested_fields(tmp_path: Path) -> None:
    """Records with usage, metadata and nested content read back equal to what was emitted."""
    path = tmp_path / "trace.jsonl"
    sink = JSONLSink(path)
    records = [_rich_record(0), _record(1), _rich_record(2)]
    sink.emit(records[:2])
    sink.emit(records[2:])
    sink.close()
    assert list(read_jsonl(path)) == records


def test_file_is_created_lazily_with_parent_dirs(tmp_path: Path) -> None:
    """No file exists before the first batch; then it and its directories do."""
    path = tmp_path / "a" / "b" / "trace.jsonl"
    sink = JSONLSink(path)
    sink.emit([])
    assert not path.parent.exists()
    sink.emit([_record(0)])
    sink.close()
    assert [r.span_id for r in read_jsonl(path)] == [f"{0:016x}"]


def test_appends_to_existing_file(tmp_path: Path) -> None:
    """A new sink on an existing file appends instead of truncating."""
    path = tmp_path / "trace.jsonl"
    for index in range(3):
        sink = JSONLSink(path)
        sink.emit([_record(index)])
        sink.close()
    assert [r.span_id for r in read_jsonl(path)] == [f"{i:016x}" for i in range(3)]


def test_emit_after_close_reopens(tmp_path: Path) -> None:
    """A batch emitted after ``close`` is still written."""
    path = tmp_path / "trace.jsonl"
    sink = JSONLSink(path, fsync=True)
    sink.emit([_record(0)])
    sink.flush()
    sink.close()
    sink.close()
    sink.emit([_record(1)])
    sink.flush(timeout=1.0)
    sink.close()
    assert len(list(read_jsonl(path))) == 2


def test_torn_last_line_is_skipped_silently(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A half-written last line is skipped without a warning."""
    path = tmp_path / "trace.jsonl"
    records = [_record(0), _record(1)]
    whole = records[0].to_json() + b"\n" + records[1].to_json()
    path.write_bytes(whole + b"\n" + _record(2).to_json()[:37])
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        assert list(read_jsonl(path)) == records
    assert caplog.records == []


def test_complete_last_line_without_newline_is_read(tmp_path: Path) -> None:
    """A last record that lost only its newline is still read."""
    path = tmp_path / "trace.jsonl"
    records = [_record(0), _record(1)]
    path.write_bytes(records[0].to_json() + b"\n" + records[1].to_json())
    assert list(read_jsonl(path)) == records


def test_bad_middle_lines_are_skipped_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Unparsable lines before the last are skipped and reported in one warning."""
    path = tmp_path / "trace.jsonl"
    records = [_record(0), _record(1), _record(2)]
    lines = [
        records[0].to_json(),
        b"{not json",
        b"",
        records[1].to_json(),
        b'["a list"]',
        b'{"trace_id": "only one field"}',
        records[2].to_json(),
        b"{torn",
    ]
    path.write_bytes(b"\n".join(lines))
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        assert list(read_jsonl(path)) == records
    assert [r.getMessage() for r in caplog.records] == [f"{path}: skipped 3 unreadable line(s)"]


def test_rotation_keeps_every_record_across_files(tmp_path: Path) -> None:
    """Rotating renames the full file to ``.1`` and loses no record."""
    path = tmp_path / "trace.jsonl"
    line = len(_record(0).to_json()) + 1
    sink = JSONLSink(path, rotate_bytes=line * 5, fsync=True)
    records = [_record(i) for i in range(12)]
    for start in range(0, 12, 2):
        sink.emit(records[start : start + 2])
    sink.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "trace.jsonl",
        "trace.jsonl.1",
        "trace.jsonl.2",
    ]
    assert all(p.stat().st_size <= line * 5 for p in tmp_path.iterdir())
    read_back = [
        *read_jsonl(tmp_path / "trace.jsonl.2"),
        *read_jsonl(tmp_path / "trace.jsonl.1"),
        *read_jsonl(path),
    ]
    assert read_back == records


def test_rotation_keeps_at_most_backups(tmp_path: Path) -> None:
    """Only the newest ``backups`` rotated files are kept."""
    path = tmp_path / "trace.jsonl"
    line = len(_record(0).to_json()) + 1
    sink = JSONLSink(path, rotate_bytes=line, backups=2)
    for index in range(5):
        sink.emit([_record(index)])
    sink.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "trace.jsonl",
        "trace.jsonl.1",
        "trace.jsonl.2",
    ]
    assert [r.span_id for r in read_jsonl(tmp_path / "trace.jsonl.2")] == [f"{2:016x}"]
    assert [r.span_id for r in read_jsonl(path)] == [f"{4:016x}"]


def test_rotation_without_backups_starts_over(tmp_path: Path) -> None:
    """With ``backups=0`` the full file is discarded."""
    path = tmp_path / "trace.jsonl"
    line = len(_record(0).to_json()) + 1
    sink = JSONLSink(path, rotate_bytes=line, backups=0)
    sink.emit([_record(0)])
    sink.emit([_record(1)])
    sink.close()
    assert [p.name for p in tmp_path.iterdir()] == ["trace.jsonl"]
    assert [r.span_id for r in read_jsonl(path)] == [f"{1:016x}"]


def test_batch_bigger_than_rotate_bytes_is_written_whole(tmp_path: Path) -> None:
    """A batch larger than the limit goes, unsplit, into a fresh file."""
    path = tmp_path / "trace.jsonl"
    sink = JSONLSink(path, rotate_bytes=10)
    sink.emit([_record(0)])
    sink.emit([_record(1), _record(2)])
    sink.close()
    assert [r.span_id for r in read_jsonl(path)] == [f"{1:016x}", f"{2:016x}"]
    assert [r.span_id for r in read_jsonl(tmp_path / "trace.jsonl.1")] == [f"{0:016x}"]


def test_sink_follows_rotation_done_by_another_sink(tmp_path: Path) -> None:
    """A sink whose file was rotated by another writer appends to the new file."""
    path = tmp_path / "trace.jsonl"
    line = len(_record(0).to_json()) + 1
    first = JSONLSink(path, rotate_bytes=line * 2)
    second = JSONLSink(path, rotate_bytes=line * 2)
    first.emit([_record(0)])
    second.emit([_record(1)])
    first.emit([_record(2)])  # rotates: trace.jsonl -> trace.jsonl.1
    second.emit([_record(3)])  # must land in the new trace.jsonl, not in .1
    first.close()
    second.close()
    assert [r.span_id for r in read_jsonl(tmp_path / "trace.jsonl.1")] == [
        f"{0:016x}",
        f"{1:016x}",
    ]
    assert [r.span_id for r in read_jsonl(path)] == [f"{2:016x}", f"{3:016x}"]


def test_removed_file_is_recreated_when_rotating(tmp_path: Path) -> None:
    """A rotating sink whose file was deleted starts a new one at the same path."""
    path = tmp_path / "trace.jsonl"
    sink = JSONLSink(path, rotate_bytes=1_000_000)
    sink.emit([_record(0)])
    path.unlink()
    sink.emit([_record(1)])
    sink.close()
    assert [r.span_id for r in read_jsonl(path)] == [f"{1:016x}"]


def test_concurrent_threads_write_whole_lines(tmp_path: Path) -> None:
    """Batches from many threads never interleave inside a line."""
    path = tmp_path / "trace.jsonl"
    sink = JSONLSink(path)

    def emit(thread: int) -> None:
        for batch in range(20):
            sink.emit([_rich_record(thread * 1000 + batch * 10 + i) for i in range(10)])

    threads = [threading.Thread(target=emit, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sink.close()
    assert len(path.read_bytes().splitlines()) == 6 * 20 * 10
    assert len({r.span_id for r in read_jsonl(path)}) == 6 * 20 * 10


def test_forked_child_writes_to_the_same_file(tmp_path: Path) -> None:
    """Parent and forked child both append whole records to one file."""
    path = tmp_path / "trace.jsonl"
    sink = JSONLSink(path)
    sink.emit([_record(0)])

    def child() -> None:
        sink.emit([_record(1), _record(2)])
        assert sink._pid == os.getpid(), "the child must open its own descriptor"
        sink.close()

    assert fork(child) == 0
    # The child closed only its own descriptor: the parent's still works.
    sink.emit([_record(3)])
    sink.close()
    assert sorted(r.span_id for r in read_jsonl(path)) == [f"{i:016x}" for i in range(4)]


def test_forked_child_is_not_blocked_by_a_held_lock(tmp_path: Path) -> None:
    """A child forked while the sink's lock is held can still write."""
    path = tmp_path / "trace.jsonl"
    sink = JSONLSink(path)

    def child() -> None:
        # Without a fresh lock the child would block forever; the alarm ends it instead.
        signal.alarm(5)
        sink.emit([_record(1)])
        signal.alarm(0)

    with sink._lock:
        code = fork(child)
    assert code == 0
    assert [r.span_id for r in read_jsonl(path)] == [f"{1:016x}"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rotate_bytes": 0}, "rotate_bytes=0"),
        ({"rotate_bytes": True}, "rotate_bytes=True"),
        ({"backups": -1}, "backups=-1"),
    ],
)
def test_invalid_options_are_refused(tmp_path: Path, options: dict[str, Any], message: str) -> None:
    """Out-of-range options are a ConfigurationError naming the option."""
    with pytest.raises(ConfigurationError, match=message):
        JSONLSink(tmp_path / "trace.jsonl", **options)


def test_is_a_sink(tmp_path: Path) -> None:
    """JSONLSink meets the Sink protocol."""
    assert isinstance(JSONLSink(tmp_path / "trace.jsonl"), Sink)


_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(
    max_examples=75, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.text(),
    metadata=st.dictionaries(st.text(), _json_values, max_size=5),
    content=st.text() | st.lists(_json_values, max_size=4),
)
def test_any_text_round_trips(
    tmp_path: Path, name: str, metadata: dict[str, object], content: object
) -> None:
    """Records with arbitrary text in name, metadata and input read back equal."""
    path = tmp_path / "hypothesis.jsonl"
    path.unlink(missing_ok=True)
    records = [_record(0, name=name, metadata=metadata, input=content), _record(1)]
    sink = JSONLSink(path)
    sink.emit(records)
    sink.close()
    assert list(read_jsonl(path)) == records


def test_a_write_that_fails_part_way_is_cut_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch the disk takes only part of leaves the file as it was, and raises."""
    path = tmp_path / "trace.jsonl"
    sink = JSONLSink(path)
    sink.emit([_record(0)])
    before = path.read_bytes()
    real_write = os.write

    calls: list[int] = []

    def half_then_full(fd: int, data: bytes) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError, match="No space left"):
        sink.emit([_record(1), _record(2)])
    monkeypatch.undo()
    assert path.read_bytes() == before
    sink.emit([_record(3)])
    sink.close()
    assert [r.span_id for r in read_jsonl(path)] == [f"{0:016x}", f"{3:016x}"]


def test_a_fragment_appended_after_a_failed_write_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bytes another writer added after a failed write are never cut; the next batch
    starts on a line of its own after them."""
    path = tmp_path / "trace.jsonl"
    sink = JSONLSink(path)
    sink.emit([_record(0)])
    real_write = os.write

    calls: list[int] = []

    def a_fragment_then_someone_else(fd: int, data: bytes) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data)[:40])
        with open(path, "ab") as other:
            other.write(b"their line\n")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", a_fragment_then_someone_else)
    with pytest.raises(OSError, match="No space left"):
        sink.emit([_record(1), _record(2)])
    monkeypatch.undo()
    assert path.read_bytes().endswith(b"their line\n")
    sink.emit([_record(3)])
    sink.close()
    assert [r.span_id for r in read_jsonl(path)] == [f"{0:016x}", f"{3:016x}"]


def test_a_file_deleted_during_the_write_gets_the_batch_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch written just as the file was deleted is written again to the new file."""
    path = tmp_path / "trace.jsonl"
    sink = JSONLSink(path)
    sink.emit([_record(0)])
    real_write = os.write
    deletions = [path]

    def delete_first(fd: int, data: bytes) -> int:
        while deletions:
            deletions.pop().unlink()
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", delete_first)
    sink.emit([_record(1)])
    monkeypatch.undo()
    sink.close()
    assert [r.span_id for r in read_jsonl(path)] == [f"{1:016x}"]


def test_two_sinks_of_one_process_rotate_a_shared_file_once(tmp_path: Path) -> None:
    """Sinks on one rotating file, in threads of one process, lose no record."""
    path = tmp_path / "trace.jsonl"
    line = len(_record(0).to_json()) + 1
    sinks = [JSONLSink(path, rotate_bytes=line * 7, backups=500) for _ in range(4)]

    def emit(number: int) -> None:
        for index in range(0, 200, 2):
            sinks[number].emit([_record(number * 1000 + index + i) for i in range(2)])

    threads = [threading.Thread(target=emit, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for sink in sinks:
        sink.close()
    span_ids = [r.span_id for file in tmp_path.iterdir() for r in read_jsonl(file)]
    assert len(span_ids) == len(set(span_ids)) == 800


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda d: d, "it is a directory"),
        (lambda d: d / "file" / "trace.jsonl", "is not a directory"),
    ],
)
def test_a_path_that_cannot_work_is_refused(
    tmp_path: Path, make: Callable[[Path], Path], problem: str
) -> None:
    """A directory, or a path under a file, is a ConfigurationError naming the path."""
    (tmp_path / "file").write_text("")
    path = make(tmp_path)
    with pytest.raises(ConfigurationError) as caught:
        JSONLSink(path)
    assert repr(str(path)) in str(caught.value)
    assert problem in str(caught.value)


def test_a_missing_directory_is_accepted_and_made_later(tmp_path: Path) -> None:
    """A path in directories that do not exist yet is fine: they are made on the first batch."""
    path = tmp_path / "a" / "b" / "trace.jsonl"
    sink = JSONLSink(path)
    assert not (tmp_path / "a").exists()
    sink.emit([_record(0)])
    sink.close()
    assert [r.span_id for r in read_jsonl(path)] == [f"{0:016x}"]


def test_a_fifo_with_a_reader_gets_the_records(tmp_path: Path) -> None:
    """A named pipe passes the path checks and is written to like a file."""
    path = tmp_path / "pipe"
    os.mkfifo(path)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(path.read_bytes()))
    reader.start()
    sink = JSONLSink(path)
    sink.emit([_record(0), _record(1)])
    sink.emit([_record(2)])
    sink.close()
    reader.join(timeout=5)
    assert received == [b"".join(_record(i).to_json() + b"\n" for i in range(3))]
