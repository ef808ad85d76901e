"""``drift`` finds which groups the scored traces' calls fall in on the store's second
connection, while the main thread reads each window's calls: the answers are those of
one connection, bit for bit, a sink writing meanwhile changes nothing it should not,
and a command that fails first leaves no query running."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmguard._core.records import Record, Usage
from llmguard.cli import main
from llmguard.cli._dataset import Dataset, Window
from llmguard.sinks import SQLiteSink

_BASELINE = "2026-01-01..2026-01-03"
_CURRENT = "2026-01-03..2026-01-04"
_NAMES = ("triage", "summarize", "answer")


def _calls(scores: list[float], shift: float) -> list[Record]:
    """Calls over three days (the current window's slower and scored lower by
    ``shift``), a feedback record on every third call's trace, a tool call in some."""
    records = []
    for number, score in enumerate(scores):
        day = 1 + number % 3
        current = day == 3
        trace = f"{number:032x}"
        start = f"2026-01-0{day}T{number % 24:02d}:{number % 60:02d}:00.000000Z"
        records.append(
            Record(
                trace_id=trace,
                span_id=f"{number:016x}",
                name=_NAMES[number // 3 % len(_NAMES)],
                kind="llm",
                start=start,
                end=start,
                duration_ms=100.0 + number % 17 + (50.0 * shift if current else 0.0),
                cost_usd=0.001 * (number % 5),
                usage=Usage(input=10, output=number % 11),
                status="error" if number % 13 == 0 else "ok",
                sample_weight=4.0 if number % 4 == 0 else 1.0,
            )
        )
        if number % 5 == 1:
            records.append(
                Record(
                    trace_id=trace,
                    span_id=f"{50_000 + number:016x}",
                    name="search",
                    kind="tool",
                    start=start,
                    end=start,
                    duration_ms=3.0,
                )
            )
        if number % 4 != 3:
            value = max(0.0, score - shift) if current else score
            records.append(
                Record(
                    trace_id=trace,
                    span_id=f"{90_000 + number:016x}",
                    name="feedback",
                    kind="feedback",
                    # Given the next day: outside the call's window, counted in it.
                    start=f"2026-01-0{day + 1}T12:00:00.000000Z",
                    end=f"2026-01-0{day + 1}T12:00:00.000000Z",
                    duration_ms=0.0,
                    metadata={"score": value},
                )
            )
    return records


def _store(path: Path, records: list[Record]) -> Path:
    sink = SQLiteSink(path)
    sink.emit(records)
    sink.close()
    return path


def _drift(
    path: Path, second: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, object]:
    """``drift --json`` over the store, with or without the second connection."""
    opened = Dataset.open

    def open_with(file: str, progress: object = None) -> Dataset:
        return opened(file, progress, second_connection=second)  # type: ignore[arg-type]

    with monkeypatch.context() as patched:
        patched.setattr(Dataset, "open", open_with)
        status = main(
            [
                *("drift", str(path), "--baseline", _BASELINE, "--current", _CURRENT),
                *("--json", "--min-calls", "5"),
            ]
        )
    return status, json.loads(capsys.readouterr().out)


@pytest.fixture
def readers(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Window]]:
    """The thread and window of every read of the feedback traces' groups."""
    found: list[tuple[str, Window]] = []
    read = Dataset._read_trace_groups

    def spied(self: Dataset, conn: object, groupings: object, window: Window, kinds: object):  # type: ignore[no-untyped-def]
        found.append((threading.current_thread().name, window))
        return read(self, conn, groupings, window, kinds)  # type: ignore[arg-type]

    monkeypatch.setattr(Dataset, "_read_trace_groups", spied)
    return found


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    scores=st.lists(st.sampled_from((0.0, 0.25, 0.5, 1.0)), min_size=30, max_size=90),
    shift=st.sampled_from((0.0, 0.5, 1.0)),
)
def test_drift_answers_as_one_connection_does(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    readers: list[tuple[str, Window]],
    scores: list[float],
    shift: float,
) -> None:
    """Generated scores and shifts: the findings, their p-values and the exit status
    are those of one connection; with two, both windows' feedback groups are read on
    the side thread."""
    path = _store(tmp_path / f"calls-{len(list(tmp_path.iterdir()))}.db", _calls(scores, shift))
    readers.clear()
    alone = _drift(path, False, monkeypatch, capsys)
    assert {name for name, _ in readers} == {threading.current_thread().name}
    readers.clear()
    shared = _drift(path, True, monkeypatch, capsys)
    assert shared == alone
    assert len(readers) == 2
    assert all(name.startswith("llmguard-query") for name, _ in readers)
    assert [window.since for _, window in readers] == [
        "2026-01-01T00:00:00.000000Z",
        "2026-01-03T00:00:00.000000Z",
    ]


def test_feedback_moves_drift_with_the_groups_read_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Scores half a point lower in the current window are found as feedback drift per
    function, as on one connection."""
    path = _store(tmp_path / "calls.db", _calls([1.0, 0.75, 0.5, 1.0] * 75, 0.5))
    status, found = _drift(path, True, monkeypatch, capsys)
    assert status == 1
    assert isinstance(found, dict)
    drifted = {(tuple(f["group"]), f["metric"]) for f in found["drifted"]}
    assert {(name,) for name in _NAMES} <= {g for g, metric in drifted if metric == "feedback"}
    assert (status, found) == _drift(path, False, monkeypatch, capsys)


def test_a_sink_writing_copies_meanwhile_counts_each_score_once(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A sink delivers every record again (at least once delivery) just before the side
    thread reads the feedback groups: each span is still one record, so every score
    counts once and the answer is the one a quiet store gives."""
    records = _calls([1.0, 0.5, 0.0, 1.0, 0.25] * 20, 0.5)
    path = _store(tmp_path / "calls.db", records)
    expected = _drift(path, False, monkeypatch, capsys)
    read = Dataset._read_trace_groups
    written: list[str] = []

    def again_first(self: Dataset, *args: object) -> object:
        if threading.current_thread().name.startswith("llmguard-query"):
            sink = SQLiteSink(path)
            sink.emit(records)
            sink.close()
            written.append(threading.current_thread().name)
        return read(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Dataset, "_read_trace_groups", again_first)
    assert _drift(path, True, monkeypatch, capsys) == expected
    assert len(written) == 2


def test_a_window_without_calls_fails_and_stops_the_reads_ahead(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A baseline window with no call fails the command (exit 2, one line) while the
    feedback groups were being read ahead; no query thread is left."""
    path = _store(tmp_path / "calls.db", _calls([1.0] * 30, 0.0))
    baseline = "2025-01-01..2025-01-02"
    status = main(["drift", str(path), "--baseline", baseline, "--current", _CURRENT])
    assert status == 2
    assert "no calls" in capsys.readouterr().err
    assert not [t for t in threading.enumerate() if t.name.startswith("llmguard-query")]
