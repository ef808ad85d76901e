"""Attacks on the stores: a full disk, torn lines, deleted files, shared rotation, damage."""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import pytest

import llmguard as lg
from llmguard.exceptions import ConfigurationError
from llmguard.sinks import JSONLSink, SQLiteSink, SQLiteStore, read_records
from llmguard.sinks._jsonl import read_jsonl
from tests._helpers.reliability import figure, run_child


def _record(index: int, payload: str = "") -> lg.Record:
    return lg.Record(
        trace_id="0af7651916cd43dd8448eb211c80319c",
        span_id=f"{index:016x}",
        name="step",
        start="2025-01-01T00:00:00.000000Z",
        end="2025-01-01T00:00:01.000000Z",
        duration_ms=1000.0,
        output=payload or None,
    )


def _strict_lines(*paths: Path) -> list[lg.Record]:
    """Every line of the files as a record; a torn or glued line fails the test."""
    records = []
    for path in paths:
        data = path.read_bytes()
        assert not data or data.endswith(b"\n"), f"{path.name} ends in a torn line"
        for line in data.splitlines():
            records.append(lg.Record.from_json(line))
    return records


# -- 12: a write cut short, and a fragment left by someone else


def test_a_full_disk_leaves_whole_lines_and_true_counts(tmp_path: Path) -> None:
    """A file-size limit hit mid-batch (as ENOSPC would) leaves no torn line, the file
    holds exactly the records counted delivered, and writing resumes once there is room."""
    child = run_child(
        """
        import json, resource, signal
        import llmguard as lg

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, as a full disk gives ENOSPC
        lg.configure(sinks=[lg.sinks.JSONLSink("out.jsonl")], batch_size=7)

        @lg.trace
        def step(i):
            return "x" * 300

        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (30_000, hard))
        for i in range(200):
            step(i)
            if i % 7 == 6:
                lg.flush(timeout=5)
        lg.flush(timeout=5)
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        for i in range(200, 300):
            step(i)
        lg.flush(timeout=5)
        (sink,) = lg.stats().sinks
        print(json.dumps({"delivered": sink.delivered, "dropped": sink.dropped}))
        """,
        tmp_path,
    )
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err.decode()
    counts = json.loads(out)
    records = _strict_lines(tmp_path / "out.jsonl")
    inputs = [r.input["i"] for r in records]  # type: ignore[index]
    assert len(inputs) == len(set(inputs)) == counts["delivered"]
    assert counts["delivered"] + counts["dropped"] == 300
    assert 0 < counts["dropped"] < 200
    assert set(range(200, 300)) <= set(inputs)
    figure(f"full disk: {counts['dropped']} of 300 dropped, file holds the {len(inputs)} delivered")


def test_a_fragment_left_by_another_writer_is_not_glued_to_the_next_record(
    tmp_path: Path,
) -> None:
    """A writer that leaves an unterminated fragment mid-run costs none of the sink's
    records: the next one starts on a line of its own."""
    path = tmp_path / "out.jsonl"
    sink = JSONLSink(path)
    sink.emit([_record(0)])
    with open(path, "ab") as other:
        other.write(b'{"trace_id": "torn by some')
    sink.emit([_record(1), _record(2)])
    sink.close()
    assert [r.span_id for r in read_jsonl(path)] == [f"{i:016x}" for i in range(3)]
    assert path.read_bytes().endswith(_record(2).to_json() + b"\n")


# -- 13: the file deleted or replaced under the sink


def test_a_deleted_file_is_recreated_and_no_record_goes_to_it(tmp_path: Path) -> None:
    """Records emitted after the file was deleted land in a new file at the same path."""
    path = tmp_path / "out.jsonl"
    sink = JSONLSink(path)
    sink.emit([_record(0)])
    path.unlink()
    sink.emit([_record(i) for i in range(1, 101)])
    sink.close()
    assert [r.span_id for r in _strict_lines(path)] == [f"{i:016x}" for i in range(1, 101)]


def test_a_replaced_file_is_followed(tmp_path: Path) -> None:
    """After the file is renamed away and a new one put in its place (as logrotate does),
    records go to the new file; the renamed one keeps only what came before."""
    path = tmp_path / "out.jsonl"
    sink = JSONLSink(path)
    sink.emit([_record(0)])
    path.rename(tmp_path / "out.jsonl.old")
    path.write_bytes(_record(1).to_json() + b"\n")
    sink.emit([_record(2)])
    sink.close()
    assert [r.span_id for r in _strict_lines(tmp_path / "out.jsonl.old")] == [f"{0:016x}"]
    assert [r.span_id for r in _strict_lines(path)] == [f"{1:016x}", f"{2:016x}"]


def test_a_deleted_store_is_recreated(tmp_path: Path) -> None:
    """An SQLite store deleted mid-run is created again and gets the later records."""
    path = tmp_path / "out.db"
    sink = SQLiteSink(path)
    sink.emit([_record(0)])
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    sink.emit([_record(i) for i in range(1, 101)])
    sink.close()
    with SQLiteStore(path) as store:
        assert store.count() == 100


# -- 14: rotation shared by several processes

_WRITERS = 8
_PER_WRITER = 400


def _rotating_writer(path: str, writer: int, start: float) -> None:
    sink = JSONLSink(path, rotate_bytes=8_000, backups=1_000)
    time.sleep(max(0.0, start - time.time()))
    for index in range(0, _PER_WRITER, 4):
        sink.emit([_record(writer * 100_000 + index + i) for i in range(4)])
    sink.close()


def test_rotation_shared_by_eight_processes_loses_nothing(tmp_path: Path) -> None:
    """Eight processes appending to one rotating file lose no record and tear no line."""
    path = tmp_path / "out.jsonl"
    context = multiprocessing.get_context("fork")
    start = time.time() + 0.2
    began = time.perf_counter()
    writers = [
        context.Process(target=_rotating_writer, args=(str(path), n, start))
        for n in range(_WRITERS)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=30)
        assert writer.exitcode == 0
    elapsed = time.perf_counter() - began
    files = sorted(tmp_path.iterdir())
    span_ids = [r.span_id for r in _strict_lines(*files)]
    assert len(span_ids) == len(set(span_ids)) == _WRITERS * _PER_WRITER
    figure(
        f"shared rotation: {_WRITERS} processes, {len(span_ids)} records in "
        f"{len(files)} files, none lost, {elapsed:.2f} s"
    )


# -- 15: a damaged store


def _damage(path: Path) -> None:
    """Overwrite the middle of the file with garbage, leaving its header intact."""
    size = path.stat().st_size
    with open(path, "r+b") as file:
        file.seek(size // 2)
        file.write(os.urandom(40_000))


def test_a_damaged_store_counts_no_record_delivered(tmp_path: Path) -> None:
    """Records sent to a corrupted database are counted as failures, never delivered."""
    path = tmp_path / "out.db"
    sink = SQLiteSink(path)
    sink.emit([_record(i, "x" * 300) for i in range(2000)])
    sink.close()
    _damage(path)
    lg.configure(sinks=[SQLiteSink(path)])
    for index in range(300):
        answer_twice(index)
    lg.flush(timeout=5)
    (counts,) = lg.stats().sinks
    assert (counts.delivered, counts.dropped) == (0, 300)
    assert counts.errors >= 1


def test_a_bad_row_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """read_records skips a row whose JSON is not a record and says so once."""
    path = tmp_path / "out.db"
    sink = SQLiteSink(path)
    sink.emit([_record(i) for i in range(5)])
    sink.close()
    with sqlite3.connect(path) as conn:
        conn.execute("""UPDATE records SET json = '{"trace_id": 5}' WHERE rowid = 2""")
        conn.execute("UPDATE records SET json = '[1]' WHERE rowid = 4")
    conn.close()
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        records = list(read_records(path))
    assert [r.span_id for r in records] == [f"{i:016x}" for i in (0, 2, 4)]
    assert [r.getMessage() for r in caplog.records] == [f"{path}: skipped 2 unreadable row(s)"]


# -- 20: paths that cannot work


@pytest.mark.parametrize("make", [JSONLSink, SQLiteSink])
def test_a_directory_is_refused_at_construction(tmp_path: Path, make: type) -> None:
    """A sink whose path is a directory is a ConfigurationError naming it."""
    with pytest.raises(ConfigurationError, match=f"{tmp_path}.*it is a directory"):
        make(tmp_path)


@pytest.mark.parametrize("make", [JSONLSink, SQLiteSink])
def test_a_path_under_a_file_is_refused_at_construction(tmp_path: Path, make: type) -> None:
    """A sink whose parent "directory" is a file is a ConfigurationError naming it."""
    (tmp_path / "plain").write_text("x")
    with pytest.raises(ConfigurationError, match=r"plain.*not a directory"):
        make(tmp_path / "plain" / "out.log")


def test_a_file_that_is_not_a_database_is_refused_at_construction(tmp_path: Path) -> None:
    """SQLiteSink on a file that is not SQLite is a ConfigurationError naming it."""
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n" * 10)
    with pytest.raises(ConfigurationError, match=r"notes\.txt.*it is not an SQLite database"):
        SQLiteSink(path)
    assert path.read_text() == "not a database\n" * 10


def _construct_in_read_only_dir(directory: str, kind: str) -> None:
    if os.geteuid() == 0:
        os.setgid(65534)
        os.setuid(65534)  # root writes anywhere: become nobody
    make = JSONLSink if kind == "jsonl" else SQLiteSink
    try:
        make(Path(directory) / "out.log")
    except ConfigurationError as exc:
        if "not writable" in str(exc) and directory in str(exc):
            os._exit(0)
        os._exit(3)
    os._exit(2)


@pytest.mark.parametrize("kind", ["jsonl", "sqlite"])
def test_a_read_only_directory_is_refused_at_construction(kind: str) -> None:
    """A sink that could not create its file is a ConfigurationError naming the place."""
    # Under /tmp rather than tmp_path, which only its owner may enter.
    with tempfile.TemporaryDirectory() as top:
        os.chmod(top, 0o755)
        directory = Path(top) / "ro"
        directory.mkdir(mode=0o555)
        process = multiprocessing.get_context("fork").Process(
            target=_construct_in_read_only_dir, args=(str(directory), kind)
        )
        process.start()
        process.join(timeout=10)
        directory.chmod(0o755)
    assert process.exitcode == 0


def test_env_keeps_the_valid_sinks_and_warns_about_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """LLMGUARD_SINK=sqlite:///ok.db,garbage uses ok.db and warns once, naming garbage."""
    path = tmp_path / "ok.db"
    monkeypatch.setenv("LLMGUARD_SINK", f"sqlite:///{path},garbage")
    lg.reset()
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        answer_twice(1)
        assert lg.flush(timeout=5)
    assert [s.delivered for s in lg.stats().sinks] == [1]
    (message,) = [r.getMessage() for r in caplog.records]
    assert "'garbage'" in message
    assert str(path) not in message
    with SQLiteStore(path) as store:
        assert store.count() == 1


@lg.trace
def answer_twice(x: int) -> int:
    """A traced call."""
    return x * 2


# -- rotation and outside renames together, through the whole pipeline


def _trace_into_a_rotating_file_renamed_from_outside(
    directory: Path, writers: int, seconds: float
) -> tuple[int, int, int]:
    """Records delivered, whole lines found in every file, and renames made."""
    children = [
        run_child(
            f"""
            import json, time
            import llmguard as lg
            lg.configure(sinks=[lg.sinks.JSONLSink(
                "out.jsonl", rotate_bytes=64_000, backups=100_000)], batch_size=16)

            @lg.trace
            def step(i):
                return i

            deadline = time.monotonic() + {seconds}
            i = 0
            while time.monotonic() < deadline:
                step(i)
                i += 1
                if i % 64 == 0:
                    time.sleep(0.001)
            lg.flush(timeout=30)
            (sink,) = lg.stats().sinks
            print(json.dumps({{"delivered": sink.delivered, "errors": sink.errors}}))
            """,
            directory,
        )
        for _ in range(writers)
    ]
    renames = 0
    while any(child.poll() is None for child in children):
        time.sleep(0.05)
        try:
            (directory / "out.jsonl").rename(directory / f"moved.{renames}")
            renames += 1
        except FileNotFoundError:
            pass
    delivered = 0
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err.decode()
        counts = json.loads(out)
        assert counts["errors"] == 0
        delivered += counts["delivered"]
    lines = len(_strict_lines(*sorted(directory.iterdir())))
    return delivered, lines, renames


def test_rotation_while_the_file_is_renamed_from_outside_loses_nothing(tmp_path: Path) -> None:
    """Sinks rotating one file that logrotate-style renames keep moving away lose no
    record they took: rotations stay exclusive whatever is at the path."""
    path = tmp_path / "out.jsonl"
    stop = time.monotonic() + 0.6
    taken = [0] * 4

    def write(number: int) -> None:
        sink = JSONLSink(path, rotate_bytes=4_000, backups=100_000)
        index = number * 10_000_000
        while time.monotonic() < stop:
            sink.emit([_record(index + i) for i in range(4)])
            taken[number] += 4
            index += 4
        sink.close()

    writers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for writer in writers:
        writer.start()
    renames = 0
    while any(writer.is_alive() for writer in writers):
        time.sleep(0.002)
        with contextlib.suppress(FileNotFoundError):
            path.rename(tmp_path / f"moved.{renames}")
            renames += 1
    span_ids = [r.span_id for r in _strict_lines(*tmp_path.iterdir())]
    assert len(span_ids) == len(set(span_ids)) == sum(taken)
    assert renames > 0


_SOAK_SECONDS = float(os.environ.get("LLMGUARD_SOAK_SECONDS", "10"))


@pytest.mark.skipif(os.environ.get("LLMGUARD_SOAK") != "1", reason="soak: set LLMGUARD_SOAK=1")
def test_soak_shared_rotation_and_outside_renames_keep_counts_true(tmp_path: Path) -> None:
    """The same with eight processes for LLMGUARD_SOAK_SECONDS (10 by default)."""
    delivered, lines, renames = _trace_into_a_rotating_file_renamed_from_outside(
        tmp_path, writers=_WRITERS, seconds=_SOAK_SECONDS
    )
    assert lines == delivered
    figure(
        f"soak: {_WRITERS} processes, {delivered} records in "
        f"{len(list(tmp_path.iterdir()))} files over {_SOAK_SECONDS:.0f} s, "
        f"{renames} outside renames, every one a whole line"
    )
