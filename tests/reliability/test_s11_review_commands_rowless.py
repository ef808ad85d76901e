"""A store whose ``records`` table has no row ids (``WITHOUT ROWID``, as a tool that
copied it may have made it) still answers ``stats`` and ``drift`` with its feedback
scores, as the same records in an ordinary table do: the table of the scored traces'
records does not read the store's row ids."""

from __future__ import annotations

import contextlib
import io
import shutil
import sqlite3
from pathlib import Path

from llmguard._core.records import Record
from llmguard.cli import main
from llmguard.sinks import SQLiteSink

_DRIFT = ("--baseline", "2026-01-01..2026-01-03", "--current", "2026-01-03..2026-01-05")


def _records() -> list[Record]:
    """Calls over four days, two functions, a scored trace out of three (one score a
    figure no record can have)."""
    records = []
    for number in range(60):
        trace = f"{number // 2:032x}"
        start = f"2026-01-0{1 + number % 4}T10:00:{number % 60:02d}.000000Z"
        records.append(
            Record(
                trace_id=trace,
                span_id=f"{number:016x}",
                name="ab"[number % 2],
                kind="llm",
                start=start,
                end=start,
                duration_ms=10.0 + number,
            )
        )
        if number % 3 == 0:
            records.append(
                Record(
                    trace_id=trace,
                    span_id=f"{1000 + number:016x}",
                    name="feedback",
                    kind="feedback",
                    start=start,
                    end=start,
                    duration_ms=0.0,
                    metadata={"score": 1e300 if number == 30 else number % 4 / 4},
                )
            )
    return records


def _without_rowid(source: Path, target: Path) -> None:
    """``target``: ``source`` with its records table rebuilt ``WITHOUT ROWID``."""
    shutil.copy(source, target)
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'records'").fetchone()
        indexes = [
            made
            for (made,) in conn.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = 'records' AND type = 'index' "
                "AND sql IS NOT NULL"
            )
        ]
        conn.execute("ALTER TABLE records RENAME TO copied")
        conn.execute(
            sql.rstrip().removesuffix(")") + ", PRIMARY KEY (trace_id, span_id)) WITHOUT ROWID"
        )
        conn.execute("INSERT INTO records SELECT * FROM copied")
        conn.execute("DROP TABLE copied")
        for made in indexes:
            conn.execute(made)
        assert conn.execute("PRAGMA index_list(records)").fetchall()
    finally:
        conn.close()


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def test_a_store_without_row_ids_answers_as_one_with_them(tmp_path: Path) -> None:
    """``stats`` (feedback mean and count per function) and ``drift`` print what the
    same records in an ordinary table give, the warning about the impossible score
    included (its file name aside)."""
    plain = tmp_path / "plain.db"
    sink = SQLiteSink(plain)
    sink.emit(_records())
    sink.close()
    rowless = tmp_path / "rowless.db"
    _without_rowid(plain, rowless)
    for command in (
        ("stats", "--json", "--by", "name"),
        ("stats", "--by", "day"),
        ("drift", *_DRIFT, "--min-calls", "2"),
        ("drift", *_DRIFT, "--min-calls", "2", "--json"),
    ):
        status, out, err = _run(command[0], str(plain), *command[1:])
        assert status in (0, 1)
        assert _run(command[0], str(rowless), *command[1:]) == (
            status,
            out.replace(str(plain), str(rowless)),
            err.replace(str(plain), str(rowless)),
        )
    status, out, _ = _run("stats", str(rowless), "--json", "--by", "name")
    assert '"feedback_count": 19' in out
