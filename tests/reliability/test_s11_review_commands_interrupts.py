"""``drift`` reads the feedback traces' groups on the store's second connection while
the main thread reads the calls: Ctrl-C meanwhile, that thread failing, or the reader
of the output going away ends the command as its exit status says, with no query
thread left running."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

import llmguard.cli._format as fmt
from llmguard._core.records import Record
from llmguard.cli import main
from llmguard.cli._dataset import Dataset
from llmguard.sinks import SQLiteSink

_DRIFT = ("--baseline", "2026-01-01..2026-01-03", "--current", "2026-01-03..2026-01-05")


def _store(path: Path) -> Path:
    """Calls over four days, a scored trace out of two."""
    records = []
    for number in range(80):
        start = f"2026-01-0{1 + number % 4}T10:00:{number % 60:02d}.000000Z"
        call = {"start": start, "end": start, "trace_id": f"{number:032x}"}
        records.append(
            Record(**call, span_id=f"{number:016x}", name="ab"[number % 2], duration_ms=5.0)
        )
        if number % 2 == 0:
            records.append(
                Record(
                    **call,
                    span_id=f"{1000 + number:016x}",
                    name="feedback",
                    kind="feedback",
                    duration_ms=0.0,
                    metadata={"score": number % 5 / 4},
                )
            )
    sink = SQLiteSink(path)
    sink.emit(records)
    sink.close()
    return path


def _query_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("llmguard-query")]


def _on_side() -> bool:
    return threading.current_thread().name.startswith("llmguard-query")


def test_ctrl_c_while_the_side_reads_the_feedback_exits_130_and_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C on the main thread while the side thread is inside the feedback read:
    exit 130, nothing on stdout, and the side thread is gone when main returns."""
    path = _store(tmp_path / "calls.db")
    inside = threading.Event()
    release = threading.Event()
    read = Dataset._read_trace_groups

    def held(self: Dataset, conn: sqlite3.Connection, *args: object) -> object:
        if _on_side():
            inside.set()
            release.wait(10)
        return read(self, conn, *args)  # type: ignore[arg-type]

    def interrupted(self: Dataset, *args: object, **kwargs: object) -> object:
        assert inside.wait(10)
        # Let the side go on (into its query) once the interrupt is on its way.
        threading.Timer(0.05, release.set).start()
        raise KeyboardInterrupt

    monkeypatch.setattr(Dataset, "_read_trace_groups", held)
    monkeypatch.setattr(Dataset, "columns_by", interrupted)
    assert main(["drift", str(path), *_DRIFT]) == 130
    assert capsys.readouterr().out == ""
    assert not _query_threads()


def test_a_failing_second_connection_fails_the_command_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The side thread's feedback read raises (a disk error): exit 2, one line on
    stderr naming the error, no output, no thread left."""
    path = _store(tmp_path / "calls.db")
    read = Dataset._read_trace_groups

    def failing(self: Dataset, conn: sqlite3.Connection, *args: object) -> object:
        if _on_side():
            raise sqlite3.OperationalError("disk I/O error")
        return read(self, conn, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Dataset, "_read_trace_groups", failing)
    assert main(["drift", str(path), *_DRIFT]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "llmguard: error: unexpected OperationalError: disk I/O error (rerun with --traceback)"
    ]
    assert not _query_threads()


@pytest.mark.parametrize("as_json", [False, True])
def test_a_reader_gone_ends_drift_quietly(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    as_json: bool,
) -> None:
    """``llmguard drift ... | head -0``: the write meets a broken pipe; exit 0, nothing
    on stderr, no thread left."""
    path = _store(tmp_path / "calls.db")
    written: list[str] = []

    def gone(*args: object, **kwargs: object) -> None:
        written.append("tried")
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(fmt, "echo", gone)
    monkeypatch.setattr(fmt, "dump_json", gone)
    argv = ["drift", str(path), *_DRIFT, *(("--json",) if as_json else ())]
    assert main(argv) == 0
    assert written == ["tried"]
    assert capsys.readouterr() == ("", "")
    assert not _query_threads()
