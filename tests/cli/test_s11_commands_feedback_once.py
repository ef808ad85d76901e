"""The feedback scores are read from the table of the scored traces' records, which one
pass over the store fills, not by a second lookup of every feedback record: each score
still counts for every group with a usable call in its trace, once, and a feedback
record left out (an unusable start time, a figure no record can have, no score, an
earlier copy of its span) is left out as before."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmguard._core.records import Record
from llmguard.cli._dataset import Dataset, Window
from llmguard.sinks import JSONLSink, SQLiteSink

_WINDOWS = (Window(), Window("2026-01-02T00:00:00.000000Z", "2026-01-03T00:00:00.000000Z"))
# What a feedback record may be: a score, none, or a damage done to its row afterwards.
_FEEDBACK = st.tuples(
    st.integers(0, 5),  # the trace
    st.sampled_from((None, 0.0, 0.25, 1.0, -3.0)),  # the score
    st.sampled_from(("", "late", "timeless", "weightless", "copied")),  # what befalls it
)
_CALLS = st.lists(
    st.tuples(st.integers(0, 5), st.sampled_from(("a", "b")), st.integers(1, 3)),
    min_size=1,
    max_size=12,
)


def _time(day: int, second: int) -> str:
    return f"2026-01-0{day}T00:00:{second:02d}.000000Z"


def _records(
    calls: list[tuple[int, str, int]], feedback: list[tuple[int, float | None, str]]
) -> list[Record]:
    records = [
        Record(
            trace_id=f"{trace:032x}",
            span_id=f"{number:016x}",
            name=name,
            kind="llm",
            start=_time(day, number % 60),
            end=_time(day, number % 60),
            duration_ms=1.0,
        )
        for number, (trace, name, day) in enumerate(calls)
    ]
    for number, (trace, score, fate) in enumerate(feedback):
        records.append(
            Record(
                trace_id=f"{trace:032x}",
                span_id=f"{1000 + number:016x}",
                name="feedback",
                kind="feedback",
                # A score given days after its call still counts in the call's window.
                start=_time(4 if fate == "late" else 2, number % 60),
                end=_time(4 if fate == "late" else 2, number % 60),
                duration_ms=0.0,
                metadata={} if score is None else {"score": score},
            )
        )
    return records


def _store(path: Path, records: list[Record], fates: list[str]) -> Path:
    sink = SQLiteSink(path)
    sink.emit(records)
    # A copy of a span delivered again, its score changed: the last copy counts.
    again = [
        Record.from_dict({**r.to_dict(), "metadata": {"score": 0.75}})
        for r, fate in zip(records[-len(fates) :] if fates else [], fates, strict=True)
        if fate == "copied"
    ]
    sink.emit(again)
    sink.close()
    with sqlite3.connect(path) as conn:
        for number, fate in enumerate(fates):
            span = f"{1000 + number:016x}"
            if fate == "timeless":
                conn.execute("UPDATE records SET start = 'yesterday' WHERE span_id = ?", (span,))
            elif fate == "weightless":
                conn.execute("UPDATE records SET sample_weight = 0 WHERE span_id = ?", (span,))
    conn.close()
    return path


def _expected(
    calls: list[tuple[int, str, int]],
    feedback: list[tuple[int, float | None, str]],
    window: Window,
) -> dict[tuple[str, ...], list[float]]:
    """Per name, the scores of the traces with a call of that name in the window."""
    names: dict[int, set[str]] = {}
    for number, (trace, name, day) in enumerate(calls):
        start = _time(day, number % 60)
        if (window.since is None or start >= window.since) and (
            window.until is None or start < window.until
        ):
            names.setdefault(trace, set()).add(name)
    found: dict[tuple[str, ...], list[float]] = {}
    for trace, score, fate in feedback:
        if fate in ("timeless", "weightless"):
            continue
        value = 0.75 if fate == "copied" else score
        if value is None:
            continue
        for name in names.get(trace, ()):
            found.setdefault((name,), []).append(value)
    return found


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(calls=_CALLS, feedback=st.lists(_FEEDBACK, max_size=10), second=st.booleans())
def test_scores_count_once_for_every_group_of_their_trace(
    tmp_path: Path,
    calls: list[tuple[int, str, int]],
    feedback: list[tuple[int, float | None, str]],
    second: bool,
) -> None:
    """Generated calls and feedback (no score, unusable times, zero weights, copies):
    each group's scores are those of the usable feedback of its traces, per window,
    with one connection or two, and the same as the records in a JSON Lines file."""
    number = len(list(tmp_path.iterdir()))
    records = _records(calls, feedback)
    fates = [fate for _, _, fate in feedback]
    path = _store(tmp_path / f"calls-{number}.db", records, fates)
    with Dataset.open(path, second_connection=second) as dataset:
        found = [dataset.feedback_scores_by([("name",)], window)[0] for window in _WINDOWS]
        stats = dataset.summary(("name",))
    for window, scores in zip(_WINDOWS, found, strict=True):
        expected = _expected(calls, feedback, window)
        assert {key: sorted(values) for key, values in scores.items()} == {
            key: sorted(values) for key, values in expected.items()
        }
    means = {g.key: (g.feedback_count, g.feedback_mean) for g in stats[0]}
    for key, values in _expected(calls, feedback, Window()).items():
        assert means[key][0] == len(values)
    if all(fate in ("", "late") for fate in fates):
        jsonl = tmp_path / f"calls-{number}.jsonl"
        sink = JSONLSink(jsonl)
        sink.emit(records)
        sink.close()
        with Dataset.open(jsonl) as from_file:
            assert repr(from_file.summary(("name",))) == repr(stats)


def test_the_store_is_looked_up_once_for_the_scores_and_their_groups(tmp_path: Path) -> None:
    """The feedback records are found through the feedback index once, in the pass that
    fills the scored traces' table; the scores are read from that table."""
    calls = [(trace, "a", 2) for trace in range(5)]
    feedback: list[tuple[int, float | None, str]] = [(trace, 1.0, "") for trace in range(5)]
    path = _store(tmp_path / "calls.db", _records(calls, feedback), [""] * 5)
    statements: list[str] = []
    with Dataset.open(path, second_connection=False) as dataset:
        dataset._conn.set_trace_callback(statements.append)
        assert dataset.feedback_scores_by([("name",)])[0] == {("a",): [1.0] * 5}
    reads = [s for s in statements if "kind = 'feedback'" in s and "FROM records" in s]
    assert len(reads) == 1
    assert reads[0].startswith("INSERT OR IGNORE INTO temp.")
