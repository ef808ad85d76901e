"""Attacks on the commands by a store not written by llmguard: a damaged layout, values
of the wrong type, numbers no call can have."""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
from pathlib import Path

import pytest

import llmguard as lg
from llmguard.cli import main
from llmguard.sinks import JSONLSink, SQLiteSink
from tests._helpers.cli_stores import _records

_COMMANDS = [
    ["stats"],
    ["stats", "--by", "model"],
    ["drift", "--baseline", "2026-01-01..2026-01-02", "--current", "2026-01-02..2026-01-04"],
    ["report", "-o", "{out}"],
]


def _store(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    sink = SQLiteSink(path)
    sink.emit(_records())
    sink.close()
    return path


def _run(command: list[str], path: Path, tmp_path: Path) -> int:
    argv = [part.replace("{out}", str(tmp_path / "out.html")) for part in command]
    return main([argv[0], str(path), *argv[1:]])


@pytest.mark.parametrize("command", _COMMANDS, ids=" ".join)
@pytest.mark.parametrize(
    ("damage", "named"),
    [
        ('ALTER TABLE records DROP COLUMN "model"', "model"),
        ('ALTER TABLE records DROP COLUMN "duration_ms"', "duration_ms"),
        ("ALTER TABLE records DROP COLUMN repair", "repair"),
        ("DROP TABLE contents", "contents"),
    ],
)
def test_a_store_missing_part_of_its_layout_is_named(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    damage: str,
    named: str,
) -> None:
    """A store whose ``records`` table lacks a column, or that lacks ``contents``, is
    refused with exit status 2 and one line naming what is missing, not an unexpected
    SQLite error."""
    path = _store(tmp_path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP INDEX IF EXISTS records_repaired")
        conn.execute(damage)
    conn.close()
    assert _run(command, path, tmp_path) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unexpected" not in err
    assert "is not an llmguard store" in err
    assert named in err


def test_a_records_table_of_another_app_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another program's database with a table called ``records`` is not a store: the
    error lists the columns it lacks."""
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE records (id INTEGER PRIMARY KEY, start TEXT)")
        conn.execute("INSERT INTO records (start) VALUES ('2026-01-01')")
    conn.close()
    assert main(["stats", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"llmguard: error: '{path}' is not an llmguard store: ")
    assert "records.span_id" in err
    assert "records.name" in err


# -- figures no call can have: text in a numeric column, NaN, infinity, NULL or negative
# weights. They are left out of every command, with one warning, as bad start times are.

_DAMAGE = [
    "UPDATE records SET duration_ms = 'fast' WHERE span_id = ?",
    "UPDATE records SET cost_usd = 'cheap' WHERE span_id = ?",
    "UPDATE records SET input_tokens = 'many' WHERE span_id = ?",
    "UPDATE records SET duration_ms = 9e999 WHERE span_id = ?",
    "UPDATE records SET cost_usd = -9e999 WHERE span_id = ?",
    "UPDATE records SET sample_weight = NULL WHERE span_id = ?",
    "UPDATE records SET sample_weight = -1 WHERE span_id = ?",
    "UPDATE records SET sample_weight = 0 WHERE span_id = ?",
    "UPDATE records SET sample_weight = 'heavy' WHERE span_id = ?",
    "UPDATE records SET output_tokens = -5 WHERE span_id = ?",
    "UPDATE records SET duration_ms = -5 WHERE span_id = ?",
]


def _figures(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _healthy_and_damaged(tmp_path: Path, damage: str) -> tuple[Path, Path]:
    """The same calls twice, one store with an extra call whose figures are damaged."""
    records = [r for r in _records() if r.kind == "llm"]
    healthy = tmp_path / "healthy.db"
    damaged = tmp_path / "damaged.db"
    for path, extra in ((healthy, []), (damaged, [records[0]])):
        sink = SQLiteSink(path)
        copies = [
            dataclasses.replace(r, span_id=f"{0xE0 + i:016x}", trace_id="e" * 32)
            for i, r in enumerate(extra)
        ]
        sink.emit([*records, *copies])
        sink.close()
    with sqlite3.connect(damaged) as conn:
        conn.execute(damage, (f"{0xE0:016x}",))
    conn.close()
    return healthy, damaged


@pytest.mark.parametrize("damage", _DAMAGE)
@pytest.mark.parametrize(
    "command",
    [
        ["stats", "--json"],
        ["stats", "--json", "--by", "day"],
        [
            "drift",
            "--baseline",
            "2026-01-01..2026-01-02",
            "--current",
            "2026-01-02..2026-01-04",
            "--min-calls",
            "2",
        ],
    ],
    ids=lambda command: " ".join(command[:3]),
)
def test_a_call_with_impossible_figures_is_left_out_and_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str, command: list[str]
) -> None:
    """A row whose weight is not a positive number, or whose latency, cost or tokens are
    text, infinite or negative, gives the figures of the store without it and one
    warning naming the column; it is never added into them as a number."""
    healthy, damaged = _healthy_and_damaged(tmp_path, damage)
    want = _figures([command[0], str(healthy), *command[1:]], capsys)
    got = _figures([command[0], str(damaged), *command[1:]], capsys)
    assert (got[0], got[1].replace(str(damaged), str(healthy))) == want[:2]
    column = damage.split(" SET ")[1].split(" ")[0]
    warning = got[2].splitlines()
    assert len(warning) == 1
    assert warning[0].startswith(f"llmguard: warning: {damaged}: skipped 1 record whose ")
    assert column in warning[0]


@pytest.mark.parametrize("damage", _DAMAGE)
def test_the_report_of_a_store_with_impossible_figures_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    """The report leaves out the same row and is written; no chart meets infinity."""
    _, damaged = _healthy_and_damaged(tmp_path, damage)
    out = tmp_path / "report.html"
    assert main(["report", str(damaged), "-o", str(out)]) == 0
    assert "skipped 1 record whose " in capsys.readouterr().err
    assert out.stat().st_size > 0


@pytest.mark.parametrize(
    "fields",
    [
        {"sample_weight": -3.0},
        {"sample_weight": 0.0},
        {"sample_weight": math.inf},
        {"duration_ms": -5.0},
        {"duration_ms": math.inf},
        {"cost_usd": -1e308},
        {"cost_usd": math.nan},
    ],
    ids=str,
)
def test_a_json_lines_record_with_impossible_figures_is_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fields: dict[str, float]
) -> None:
    """In a JSON Lines file too: a call weighing -3 made ``stats`` print -2 calls and a
    300-digit cost."""
    records = [r for r in _records() if r.kind == "llm"]
    healthy = tmp_path / "healthy.jsonl"
    damaged = tmp_path / "damaged.jsonl"
    extra = json.loads(records[0].to_json())
    # As another writer puts them: JSON's Infinity and NaN, which Record.to_json writes null.
    extra.update(span_id="e" * 16, trace_id="e" * 32, **fields)
    healthy.write_bytes(b"".join(r.to_json() + b"\n" for r in records))
    damaged.write_bytes(healthy.read_bytes() + json.dumps(extra).encode() + b"\n")
    want = _figures(["stats", str(healthy), "--json"], capsys)
    got = _figures(["stats", str(damaged), "--json"], capsys)
    assert (got[0], got[1].replace(str(damaged), str(healthy))) == want[:2]
    assert got[2].startswith(f"llmguard: warning: {damaged}: skipped 1 record whose ")


# -- an old store (layout version 1, the record's JSON inline) with a damaged row


def _old_store(path: Path, records: list[lg.Record] | None = None, *, damaged: int = 1) -> Path:
    """A version-1 store of ``records`` (the calls of `_records` by default), the JSON
    of the one at ``damaged`` cut short."""
    from llmguard.sinks import table

    conn = sqlite3.connect(path, isolation_level=None)
    table.MIGRATIONS[0](conn)
    conn.execute("PRAGMA user_version = 1")
    initial = [c for c in table.COLUMNS if c not in {e[0] for e in table.DERIVED}]
    insert = (
        f"INSERT INTO records ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in initial)}) "
        f"VALUES ({', '.join('?' * len(initial))})"
    )
    chosen = [r for r in _records() if r.kind == "llm"] if records is None else records
    for index, record in enumerate(chosen):
        values = dict(zip(table.COLUMNS, table.row(record), strict=True))
        if index == damaged:
            values["json"] = values["json"][:40]
        conn.execute(insert, [values[c] for c in initial])
    conn.close()
    return path


def test_an_old_store_with_a_damaged_row_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The newer columns of an old store are computed from each row's JSON; one row
    whose JSON is cut short counts as a call without those figures, instead of every
    command failing with ``unexpected OperationalError: malformed JSON``."""
    path = _old_store(tmp_path / "old.db")
    assert main(["stats", str(path), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["total"]["calls"] == 15  # b's calls weigh 5 each
    assert document["total"]["records"] == 7


def test_a_sink_migrates_an_old_store_with_a_damaged_row(tmp_path: Path) -> None:
    """`SQLiteSink` brings such a store to the current layout and writes to it: the
    migration computing the new columns from the JSON failed on the damaged row, so
    every batch failed."""
    path = _old_store(tmp_path / "old.db")
    sink = SQLiteSink(path)
    # A span the store does not hold, which adds a row.
    sink.emit([dataclasses.replace(_records()[0], span_id="f" * 16)])
    sink.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 3
        assert conn.execute("SELECT count(*) FROM records").fetchone() == (8,)
    conn.close()


def _store_without_constraints(path: Path, damage: str) -> Path:
    """The healthy store's rows in a records table without NOT NULL constraints (as
    another program may make one), then ``damage`` applied to the first call."""
    healthy = _store(path.parent / "healthy.db")
    source = sqlite3.connect(healthy)
    columns = [found[1] for found in source.execute("PRAGMA table_info(records)")]
    quoted = ", ".join(f'"{column}"' for column in columns)
    conn = sqlite3.connect(path)
    conn.execute(f"CREATE TABLE records ({quoted})")
    conn.execute("CREATE TABLE contents (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    conn.execute('CREATE INDEX records_start ON records ("start")')
    marks = ", ".join("?" * (len(columns) + 1))
    for found in source.execute(f"SELECT rowid, {quoted} FROM records"):
        conn.execute(f"INSERT INTO records (rowid, {quoted}) VALUES ({marks})", found)
    conn.executemany("INSERT INTO contents VALUES (?, ?)", source.execute("SELECT * FROM contents"))
    conn.execute(damage)
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    source.close()
    return path


@pytest.mark.parametrize("command", [["stats", "--by", "day"], ["report", "-o", "{out}"]])
def test_a_call_without_a_start_time_is_left_out_and_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """A NULL start time is no time: the call is left out with the warning bad start
    times get, instead of the report finding no calls at all (NULL sorted first, so the
    report's time span had no start) or ``stats --by day`` showing a day ``None``."""
    path = _store_without_constraints(
        tmp_path / "nulls.db", 'UPDATE records SET "start" = NULL WHERE rowid = 1'
    )
    assert _run(command, path, tmp_path) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith(
        f"llmguard: warning: {path}: skipped 1 record whose start time is not a time "
    )
    assert "(the first: NULL)" in captured.err
    assert "None" not in captured.out


def test_a_call_refused_before_its_first_attempt_is_counted_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A guarded call refused before any attempt (a budget) records ``attempt.count`` 0:
    a call with no retries, counted the same from a JSON Lines file, a store and a store
    of the old layout (whose retries come from the JSON), and not taken for one with -1
    retries."""
    refused = dataclasses.replace(
        _records()[0], status="limit", attempt={"count": 0}, usage=None, cost_usd=None
    )
    answers = []
    for suffix in (".db", ".jsonl", ".old.db"):
        path = tmp_path / f"calls{suffix}"
        if suffix == ".old.db":
            _old_store(path, [refused], damaged=-1)
        else:
            sink = SQLiteSink(path) if suffix == ".db" else JSONLSink(path)
            sink.emit([refused])
            sink.close()
        assert main(["stats", str(path), "--json"]) == 0
        captured = capsys.readouterr()
        assert captured.err == ""
        answers.append(json.loads(captured.out)["total"])
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["calls"] == 1
    assert answers[0]["limit_hits"] == 1
