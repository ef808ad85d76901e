"""Feedback records with hostile trace ids (empty, NUL, huge, numbers, blobs, one id
shared with calls of other traces) and hostile scores (NaN, infinities, text, blobs,
past 2**53), in a store at layout 2 or 5, in UTF-8 or UTF-16: ``stats`` and ``drift``
answer without a crash, and the same with the second connection reading the feedback
ahead as with the main connection alone."""

from __future__ import annotations

import contextlib
import io
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmguard._core.records import Record
from llmguard.cli import main
from llmguard.cli._dataset import Dataset
from llmguard.sinks import SQLiteSink, table

_DRIFT = ("--baseline", "2026-01-01..2026-01-03", "--current", "2026-01-03..2026-01-05")
_COMMANDS = (
    ("stats", "--json", "--by", "name"),
    ("drift", *_DRIFT, "--min-calls", "2", "--by", "prompt", "--json"),
)
_TRACES = st.sampled_from(
    ("", "\x00abc", "x" * 20_000, 7, "7", 1.5, b"ab", "\u2028\U0001f600", "shared")
)
_SCORES = st.sampled_from(
    (float("nan"), float("inf"), float("-inf"), "abc", "0.5", b"\x01", 1e300, -0.0, 2**62, 0.25)
)


def _records(count: int) -> list[Record]:
    records = []
    for number in range(count):
        start = f"2026-01-0{1 + number % 4}T10:00:{number % 60:02d}.000000Z"
        call = {"start": start, "end": start, "trace_id": f"{number // 2:032x}"}
        records.append(
            Record(
                **call,
                span_id=f"{number:016x}",
                name="ab"[number % 2],
                kind="llm",
                duration_ms=float(1 + number % 7),
                prompt_name="p",
                prompt_version=str(number % 2),
            )
        )
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
    return records


def _store(path: Path, layout: int, utf16: bool, records: list[Record]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    if utf16:
        conn.execute("PRAGMA encoding = 'UTF-16le'")
    if layout == 5:
        conn.execute("CREATE TABLE made (a)")
        conn.execute("DROP TABLE made")
        conn.close()
        sink = SQLiteSink(path)
        sink.emit(records)
        sink.close()
        return
    for migration in table.MIGRATIONS[:layout]:
        migration(conn)
    conn.execute(f"PRAGMA user_version = {layout}")
    columns = table.COLUMNS[: table.COLUMNS.index("repair")]
    conn.executemany(
        f"INSERT INTO records ({', '.join(f'{c!r}' for c in columns)}, json)"
        f" VALUES ({', '.join('?' * (len(columns) + 1))})",
        [made[: len(columns)] + made[-1:] for made in map(table.row, records)],
    )
    conn.close()


def _run(path: Path, second: bool, argv: tuple[str, ...]) -> tuple[object, str, str]:
    opened = Dataset.open
    out, err = io.StringIO(), io.StringIO()

    def open_with(file: str, progress: object = None) -> Dataset:
        return opened(file, progress, second_connection=second)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(Dataset, "open", open_with)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main([argv[0], str(path), *argv[1:]])
    return status, out.getvalue(), err.getvalue()


@settings(max_examples=4, deadline=None)
@given(
    layout=st.sampled_from((2, 5)),
    utf16=st.booleans(),
    traces=st.lists(st.tuples(st.integers(0, 39), _TRACES, st.booleans()), max_size=6),
    scores=st.lists(st.tuples(st.integers(0, 39), _SCORES), max_size=6),
)
def test_hostile_feedback_answers_alike_on_one_and_two_connections(
    layout: int,
    utf16: bool,
    traces: list[tuple[int, object, bool]],
    scores: list[tuple[int, object]],
) -> None:
    """No crash, exit 0 or 1, and the same output and warnings either way."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "calls.db"
        _store(path, layout, utf16, _records(40))
        conn = sqlite3.connect(path, isolation_level=None)
        feedback = [
            row for (row,) in conn.execute("SELECT rowid FROM records WHERE kind = 'feedback'")
        ]
        for at, trace, with_call in traces:
            conn.execute("UPDATE records SET trace_id = ? WHERE rowid = ?", (trace, feedback[at]))
            if with_call:
                conn.execute(
                    "UPDATE records SET trace_id = ? WHERE rowid = ?", (trace, feedback[at] - 1)
                )
        for at, score in scores:
            conn.execute("UPDATE records SET score = ? WHERE rowid = ?", (score, feedback[at]))
        conn.close()
        for argv in _COMMANDS:
            alone = _run(path, False, argv)
            assert alone[0] in (0, 1)
            assert _run(path, True, argv) == alone
