"""A sink appending scored calls while ``drift`` runs: the feedback scores of both
windows come from one read on the second connection, each window's calls from a read
of their own on the main one, so what the sink wrote meanwhile may be in one and not
the other (docs/cli.md says so) -- but every call and every score is counted at most
once, and each group's figures lie between those of the store before and after."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import llmguard.cli._drift as drift
from llmguard._core.records import Record
from llmguard.cli._dataset import Dataset, Window
from llmguard.sinks import SQLiteSink

_WINDOWS = (
    Window.parse_range("2026-01-01..2026-01-03"),
    Window.parse_range("2026-01-03..2026-01-05"),
)
_Counts = dict[tuple[str, ...], tuple[int, list[float]]]


def _scored(first: int, count: int) -> list[Record]:
    """``count`` calls over four days, each in its own trace with a feedback record."""
    records = []
    for number in range(first, first + count):
        start = f"2026-01-0{1 + number % 4}T10:00:{number % 60:02d}.000000Z"
        call = {"start": start, "end": start, "trace_id": f"{number:032x}"}
        records.append(
            Record(**call, span_id=f"{number:016x}", name="ab"[number % 2], duration_ms=5.0)
        )
        records.append(
            Record(
                **call,
                span_id=f"{100_000 + number:016x}",
                name="feedback",
                kind="feedback",
                duration_ms=0.0,
                metadata={"score": number % 5 / 4},
            )
        )
    return records


def _write(path: Path, records: list[Record]) -> None:
    sink = SQLiteSink(path)
    sink.emit(records)
    sink.close()


def _counts(dataset: Dataset) -> list[_Counts]:
    """Per window, per function: the calls and the sorted scores `drift` compares."""
    found = []
    for window in _WINDOWS:
        samples = drift.load(dataset, "name", window)
        found.append(
            {
                key: (len(of["error"]), sorted(of["feedback"].values) if "feedback" in of else [])
                for key, of in samples.items()
            }
        )
    return found


def _answer(path: Path) -> list[_Counts]:
    with Dataset.open(path, second_connection=False) as dataset:
        return _counts(dataset)


def _within(found: list[_Counts], low: list[_Counts], high: list[_Counts]) -> None:
    """Each group's calls and scores are at least the store's before, at most after."""
    for found_in, low_in, high_in in zip(found, low, high, strict=True):
        assert set(low_in) <= set(found_in) <= set(high_in)
        for key, (calls, scores) in found_in.items():
            low_calls, low_scores = low_in.get(key, (0, []))
            high_calls, high_scores = high_in[key]
            assert low_calls <= calls <= high_calls
            assert _sub(low_scores, scores)
            assert _sub(scores, high_scores)


def _sub(smaller: list[float], larger: list[float]) -> bool:
    """Whether ``smaller`` is a sub-multiset of ``larger`` (both sorted)."""
    rest = list(larger)
    for value in smaller:
        if value not in rest:
            return False
        rest.remove(value)
    return True


@pytest.mark.parametrize("when", ["before the side reads", "between the reads"])
def test_scored_calls_written_meanwhile_are_counted_once_at_most(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """Forty scored calls land just before the side thread reads the feedback (the
    answer is the store's after them) or between its read and the main thread's reads
    of the calls (the calls are the store's after, the scores the store's before)."""
    path = tmp_path / "calls.db"
    _write(path, _scored(0, 40))
    before = _answer(path)
    later = _scored(40, 40)
    side_read = threading.Event()
    read = Dataset._read_trace_groups

    def on_side(self: Dataset, *args: object) -> object:
        if threading.current_thread().name.startswith("llmguard-query"):
            if when == "before the side reads" and not side_read.is_set():
                _write(path, later)
            found = read(self, *args)  # type: ignore[arg-type]
            side_read.set()
            return found
        return read(self, *args)  # type: ignore[arg-type]

    columns_by = Dataset.columns_by
    written: list[bool] = []

    def main_reads(self: Dataset, *args: object, **kwargs: object) -> object:
        if not written:
            assert side_read.wait(10)
            if when == "between the reads":
                _write(path, later)
            written.append(True)
        return columns_by(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Dataset, "_read_trace_groups", on_side)
    monkeypatch.setattr(Dataset, "columns_by", main_reads)
    with Dataset.open(path) as dataset:
        for window in _WINDOWS:
            dataset.prefetch_feedback([("name",)], window)
        found = _counts(dataset)
    monkeypatch.undo()
    after = _answer(path)
    assert before != after
    _within(found, before, after)
    if when == "before the side reads":
        assert found == after
    else:
        # What the documentation says may happen: new calls without their scores.
        def pick(counts: _Counts) -> list[tuple[tuple[str, ...], int]]:
            return sorted((key, calls) for key, (calls, _) in counts.items())

        assert [pick(window) for window in found] == [pick(window) for window in after]
        assert [{key: scores for key, (_, scores) in window.items()} for window in found] == [
            {key: scores for key, (_, scores) in window.items()} for window in before
        ]
