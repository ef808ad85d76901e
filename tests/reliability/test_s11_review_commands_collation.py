"""A store whose ``kind`` column was declared ``COLLATE NOCASE`` (by a tool that made
the table itself) counts a feedback record spelled ``Feedback`` as every query of the
records table does: as feedback; and a call spelled ``SPAN`` as a call, its trace's
scores included. The scores and the groups of their traces' calls are read from a
temporary table of the scored traces' records, which does not keep the column's
collation; it must not drop them."""

from __future__ import annotations

import contextlib
import io
import shutil
import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from llmguard._core.records import Record
from llmguard.cli import main
from llmguard.sinks import SQLiteSink

_DRIFT = ("--baseline", "2026-01-01..2026-01-03", "--current", "2026-01-03..2026-01-05")
_COMMANDS = (
    ("stats", "--json", "--by", "name"),
    ("stats", "--by", "prompt"),
    ("drift", *_DRIFT, "--min-calls", "2", "--json"),
)


def _records(scores: list[float]) -> list[Record]:
    """A call per score over four days, each in its own trace scored with it."""
    records = []
    for number, score in enumerate(scores):
        start = f"2026-01-0{1 + number % 4}T10:00:{number % 60:02d}.000000Z"
        call = {"start": start, "end": start, "trace_id": f"{number:032x}"}
        records.append(
            Record(
                **call,
                span_id=f"{number:016x}",
                name="ab"[number % 2],
                duration_ms=5.0,
                prompt_name="p",
                prompt_version=str(number % 3),
            )
        )
        records.append(
            Record(
                **call,
                span_id=f"{1000 + number:016x}",
                name="feedback",
                kind="feedback",
                duration_ms=0.0,
                metadata={"score": score},
            )
        )
    return records


def _nocase_copy(
    source: Path, target: Path, spelled: list[str], calls: list[str] | None = None
) -> None:
    """``target``: ``source`` with ``kind`` declared ``COLLATE NOCASE``, the feedback
    records' kinds spelled in turn as ``spelled`` says, and the calls' as ``calls``."""
    shutil.copy(source, target)
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        made = [
            sql
            for (sql,) in conn.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = 'records' AND sql IS NOT NULL "
                "AND type IN ('index', 'trigger')"
            )
        ]
        columns = [
            f'"{name}" {kind}' + (" COLLATE NOCASE" if name == "kind" else "")
            for _, name, kind, *_ in conn.execute("PRAGMA table_info(records)")
        ]
        conn.execute("ALTER TABLE records RENAME TO copied")
        conn.execute(f"CREATE TABLE records ({', '.join(columns)})")
        conn.execute("INSERT INTO records SELECT * FROM copied")
        conn.execute("DROP TABLE copied")
        for sql in made:
            conn.execute(sql.replace("CREATE TRIGGER ", "CREATE TRIGGER IF NOT EXISTS "))
        rows = [row for (row,) in conn.execute("SELECT rowid FROM records WHERE kind = 'feedback'")]
        for row, kind in zip(rows, spelled * len(rows), strict=False):
            conn.execute("UPDATE records SET kind = ? WHERE rowid = ?", (kind, row))
        rows = [row for (row,) in conn.execute("SELECT rowid FROM records WHERE kind = 'span'")]
        for row, kind in zip(rows, (calls or ["span"]) * len(rows), strict=False):
            conn.execute("UPDATE records SET kind = ? WHERE rowid = ?", (kind, row))
    finally:
        conn.close()


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def _same_answers(plain: Path, other: Path) -> None:
    for command in _COMMANDS:
        status, out, err = _run(command[0], str(plain), *command[1:])
        assert status in (0, 1)
        assert _run(command[0], str(other), *command[1:]) == (
            status,
            out.replace(str(plain), str(other)),
            err.replace(str(plain), str(other)),
        )


def test_feedback_spelled_otherwise_in_a_nocase_column_is_counted(tmp_path: Path) -> None:
    """Every other feedback record spelled ``Feedback``: ``stats`` counts all 40 scores,
    and every answer is the one of the store that spells them all ``feedback``."""
    plain = tmp_path / "plain.db"
    sink = SQLiteSink(plain)
    sink.emit(_records([number % 5 / 4 for number in range(40)]))
    sink.close()
    nocase = tmp_path / "nocase.db"
    _nocase_copy(plain, nocase, ["feedback", "Feedback"])
    _, out, _ = _run("stats", str(nocase), "--json", "--by", "name")
    assert '"feedback_count": 40' in out
    _same_answers(plain, nocase)


def test_a_call_spelled_otherwise_keeps_its_traces_scores(tmp_path: Path) -> None:
    """Every other call spelled ``SPAN``: each function's 20 calls keep their 20
    scores, as in the store that spells them ``span``."""
    plain = tmp_path / "plain.db"
    sink = SQLiteSink(plain)
    sink.emit(_records([number % 5 / 4 for number in range(40)]))
    sink.close()
    nocase = tmp_path / "nocase.db"
    _nocase_copy(plain, nocase, ["feedback"], ["span", "span", "SPAN", "Span"])
    _, out, _ = _run("stats", str(nocase), "--json", "--by", "name")
    assert out.count('"feedback_count": 20') == 2
    assert out.count('"feedback_count": 40') == 1
    _same_answers(plain, nocase)


@settings(max_examples=5, deadline=None)
@given(
    scores=st.lists(st.sampled_from((0.0, 0.25, 0.5, 1.0, -2.0)), min_size=8, max_size=30),
    spelled=st.lists(st.sampled_from(("feedback", "FEEDBACK", "Feedback")), min_size=1),
    calls=st.lists(st.sampled_from(("span", "SPAN", "Span")), min_size=1),
)
def test_any_spelling_answers_as_the_plain_store(
    scores: list[float], spelled: list[str], calls: list[str]
) -> None:
    """Generated scores and spellings: the answers are those of the plain store."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        plain = Path(scratch) / "plain.db"
        sink = SQLiteSink(plain)
        sink.emit(_records(scores))
        sink.close()
        nocase = Path(scratch) / "nocase.db"
        _nocase_copy(plain, nocase, spelled, calls)
        _same_answers(plain, nocase)
