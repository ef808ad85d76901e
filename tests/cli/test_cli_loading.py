"""Tests for llmguard.cli._dataset: opening SQLite stores and JSON Lines files for queries."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from llmguard._core.records import Record
from llmguard.cli._dataset import Dataset, DatasetError
from llmguard.sinks import SQLiteSink
from tests._helpers.cli_stores import _records, _write_trace


def test_version_1_store_is_read_through_its_json(tmp_path: Path) -> None:
    """A store written before the derived columns existed gives the same figures."""
    import sqlite3

    from llmguard.sinks import table

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    table.MIGRATIONS[0](conn)
    conn.execute("PRAGMA user_version = 1")
    old_columns = ", ".join(f'"{c}"' for c in table.COLUMNS[:17])
    for record in _records():
        row = table.row(record)
        conn.execute(
            f"INSERT INTO records ({old_columns}, json) VALUES ({', '.join('?' * 18)})",
            row[:17] + row[-1:],
        )
    conn.close()
    with Dataset.open(path) as dataset:
        a = {g.key: g for g in dataset.stats(("name",))}[("a",)]
    assert a.mean_retries == pytest.approx(0.75)
    assert a.schema_failure_rate == 0.25
    assert (a.feedback_mean, a.feedback_count) == (0.5, 2)


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    """A JSON Lines file cut mid-line by a hard kill is still read."""
    path = tmp_path / "torn.jsonl"
    lines = [r.to_json().decode() for r in _records()]
    path.write_text("\n".join(lines) + "\n" + lines[0][:40])
    with Dataset.open(path) as dataset:
        assert (dataset.stats(())[0].records, dataset.stats(())[0].calls) == (8, 16)


def test_a_garbage_line_is_skipped_and_its_number_kept(tmp_path: Path) -> None:
    """A bad line in the middle holds no record: the others are read, its number kept."""
    path = tmp_path / "bad.jsonl"
    lines = [r.to_json().decode() for r in _records()]
    lines.insert(3, "[1, 2]")
    path.write_text("\n".join(lines) + "\n")
    clean = tmp_path / "clean.jsonl"
    clean.write_text("\n".join(lines[:3] + lines[4:]) + "\n")
    with Dataset.open(path) as dataset, Dataset.open(clean) as expected:
        assert dataset.skipped_lines == [4]
        assert expected.skipped_lines == []
        assert dataset.stats(()) == expected.stats(())


def test_a_file_of_nothing_but_garbage_names_its_first_line(tmp_path: Path) -> None:
    """When no line holds a record, the file is not a trace file: the first line is named."""
    path = tmp_path / "bad.jsonl"
    path.write_text("\n[1, 2]\nnot json\n")
    with pytest.raises(DatasetError, match=r"bad.jsonl:2: not a trace record"):
        Dataset.open(path)


def test_loading_a_jsonl_file_reports_progress(tmp_path: Path) -> None:
    """Reading a JSON Lines file tells the progress callback how far it got."""
    from llmguard.cli import _dataset

    path = tmp_path / "store.jsonl"
    _write_trace(path)
    seen: list[tuple[str, float | None]] = []
    with _dataset.Dataset.open(path, lambda what, done: seen.append((what, done))):
        pass
    assert seen[-1] == ("loading store.jsonl", 1.0)


def _version_2_store(path: Path, records: list[Record]) -> None:
    """A store as llmguard wrote it before layout 3: JSON inline, no repair column."""
    import sqlite3

    from llmguard.sinks import table

    conn = sqlite3.connect(path, isolation_level=None)
    table.MIGRATIONS[0](conn)
    table.MIGRATIONS[1](conn)
    conn.execute("PRAGMA user_version = 2")
    old = table.COLUMNS[: table.COLUMNS.index("repair")]
    conn.executemany(
        f"INSERT INTO records ({', '.join(f'{c!r}' for c in old)}, json)"
        f" VALUES ({', '.join('?' * (len(old) + 1))})",
        [table.row(r)[: len(old)] + table.row(r)[-1:] for r in records],
    )
    conn.close()


def _with_repairs() -> list[Record]:
    repaired = [
        dataclasses.replace(
            record,
            span_id=f"{100 + index:016x}",
            attempt={
                "number": 1,
                "outcome": "ok",
                "function": record.name,
                "repair": "json_repair",
            },
            kind="attempt",
            name="attempt 1",
        )
        for index, record in enumerate(_records()[:6])
    ]
    return _records() + repaired


@pytest.mark.parametrize("by", ["name", "model", "prompt", "day", "status"])
def test_a_version_2_store_answers_like_a_new_one(tmp_path: Path, by: str) -> None:
    """A store written before layout 3 gives the same figures, repaired attempts included."""
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    _version_2_store(old, _with_repairs())
    sink = SQLiteSink(new)
    sink.emit(_with_repairs())
    sink.close()
    with Dataset.open(old) as before, Dataset.open(new) as after:
        assert before.summary((by,)) == after.summary((by,))
        assert before.summary((by,))[1] is not None
        assert before.trace(f"{1:032x}") == after.trace(f"{1:032x}")
        assert before.calls(order_by="duration_ms", limit=3) == after.calls(
            order_by="duration_ms", limit=3
        )
    with Dataset.open(old) as before:
        total = before.summary(("name",))[1]
    assert total is not None
    assert total.repaired == 1 + 1 + 1 + 1 + 5 + 5
