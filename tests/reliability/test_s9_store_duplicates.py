"""A span delivered twice is one record: at-least-once delivery (a sink retrying a batch,
a file appended to itself) must not double what the commands count."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmguard._core.records import Record
from llmguard.cli import main
from llmguard.cli._dataset import Dataset
from llmguard.sinks import JSONLSink, SQLiteSink
from tests._helpers.cli_stores import _records

_FORMATS = ["jsonl", "sqlite"]


def _write(path: Path, *batches: list[Record]) -> Path:
    sink = SQLiteSink(path) if path.suffix == ".db" else JSONLSink(path)
    for batch in batches:
        sink.emit(batch)
    sink.close()
    return path


def _file(tmp_path: Path, form: str, name: str) -> Path:
    return tmp_path / (f"{name}.db" if form == "sqlite" else f"{name}.jsonl")


def _stats_json(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> object:
    assert main(["stats", str(path), "--json", *extra]) == 0
    document = json.loads(capsys.readouterr().out)
    document.pop("path")
    return document


@pytest.mark.parametrize("form", _FORMATS)
@pytest.mark.parametrize("by", ["name", "model", "status"])
def test_records_written_twice_give_the_figures_of_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str, by: str
) -> None:
    """The same batch delivered twice gives the same ``stats --json`` as once."""
    once = _write(_file(tmp_path, form, "once"), _records())
    twice = _write(_file(tmp_path, form, "twice"), _records(), _records())
    assert _stats_json(twice, capsys, "--by", by) == _stats_json(once, capsys, "--by", by)


def test_a_jsonl_file_appended_to_itself_gives_the_figures_of_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``cat calls.jsonl >> calls.jsonl``: every line twice, the figures once."""
    once = _write(tmp_path / "once.jsonl", _records())
    twice = tmp_path / "twice.jsonl"
    twice.write_bytes(once.read_bytes() * 2)
    assert _stats_json(twice, capsys) == _stats_json(once, capsys)


@pytest.mark.parametrize("form", _FORMATS)
def test_the_last_written_copy_of_a_span_wins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    """Two records with one trace and span id: the one written last is the one counted,
    in both stores (here the later copy says the call failed)."""
    first = _records()
    later = [dataclasses.replace(first[0], status="error", error_type="ValueError")]
    path = _write(_file(tmp_path, form, "store"), first, later)
    with Dataset.open(path) as dataset:
        (group,) = [g for g in dataset.stats() if g.key == ("a",)]
        assert group.calls == 4
        assert group.error_rate == 0.5
        (shown,) = [r for r in dataset.trace(first[0].trace_id) if r.span_id == first[0].span_id]
        assert shown.status == "error"


@pytest.mark.parametrize("form", _FORMATS)
def test_show_prints_a_span_delivered_twice_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    """``show`` draws each span of a trace delivered twice once."""
    records = _records()
    path = _write(_file(tmp_path, form, "store"), records, records)
    assert main(["show", str(path), records[0].trace_id]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == len([r for r in records if r.trace_id == records[0].trace_id]) + 1


@pytest.mark.parametrize("form", _FORMATS)
def test_drift_and_report_count_a_repeated_span_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    """``drift --json`` and the report's call count do not see the copies."""
    windows = ["--baseline", "2026-01-01..2026-01-02", "--current", "2026-01-02..2026-01-04"]
    outputs = []
    for name, batches in (("once", [_records()]), ("twice", [_records(), _records()])):
        path = _write(_file(tmp_path, form, name), *batches)
        main(["drift", str(path), *windows, "--min-calls", "2", "--json"])
        drift = json.loads(capsys.readouterr().out)
        drift.pop("path", None)
        page = tmp_path / f"{name}.html"
        assert main(["report", str(path), "-o", str(page)]) == 0
        capsys.readouterr()
        outputs.append((drift, page.read_text().count("7 calls")))
    assert outputs[0] == outputs[1]


def test_the_store_keeps_one_row_per_span(tmp_path: Path) -> None:
    """An SQLite store written twice holds one row and one content per span."""
    path = _write(tmp_path / "store.db", _records(), _records())
    with sqlite3.connect(path) as conn:
        (rows,) = conn.execute("SELECT count(*) FROM records").fetchone()
        (bodies,) = conn.execute("SELECT count(*) FROM contents").fetchone()
        (orphans,) = conn.execute(
            "SELECT count(*) FROM contents WHERE id NOT IN (SELECT rowid FROM records)"
        ).fetchone()
    conn.close()
    assert (rows, bodies, orphans) == (len(_records()), len(_records()), 0)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(copies=st.lists(st.integers(0, 11), min_size=1, max_size=30))
def test_any_redelivery_pattern_counts_each_span_once(
    tmp_path_factory: pytest.TempPathFactory, copies: list[int]
) -> None:
    """Whatever records come again, in any order and batch, each span counts once: the
    calls counted equal those of the distinct spans."""
    records = _records()
    tmp = tmp_path_factory.mktemp("redelivery")
    for form in _FORMATS:
        path = _write(_file(tmp, form, "store"), records, [records[i] for i in copies])
        with Dataset.open(path) as dataset:
            _, total = dataset.summary(())
            assert total is not None
            assert total.calls == pytest.approx(1 + 1 + 1 + 1 + 5 + 5 + 1 + 1)


def test_a_store_holding_copies_is_left_with_the_last_when_the_sink_opens_it(
    tmp_path: Path,
) -> None:
    """A store of the previous layout holding a span twice (written twice by an earlier
    sink) keeps the later copy, with its own content, once a sink has migrated it."""
    from llmguard.sinks import table

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in table.MIGRATIONS[:3]:
        migration(conn)
    conn.execute("PRAGMA user_version = 3")
    first = _records()
    later = [dataclasses.replace(first[0], status="error", error_type="ValueError")]
    for batch in (first, later):
        conn.execute("BEGIN IMMEDIATE")
        table.insert(conn, [table.row(record) for record in batch])
        conn.execute("COMMIT")
    conn.close()
    with Dataset.open(path) as dataset:
        # The copy is still in the file, read as one record (its last copy).
        assert len(dataset.trace(first[0].trace_id)) == 4
    _write(path, [])  # an empty batch opens nothing
    sink = SQLiteSink(path)
    sink.emit([dataclasses.replace(first[1], span_id="f" * 16)])
    sink.close()
    with Dataset.open(path) as dataset:
        spans = dataset.trace(first[0].trace_id)
        assert [r.status for r in spans if r.span_id == first[0].span_id] == ["error"]
        assert len(spans) == 4
    with sqlite3.connect(path) as conn:
        (orphans,) = conn.execute(
            "SELECT count(*) FROM contents WHERE id NOT IN (SELECT rowid FROM records)"
        ).fetchone()
    conn.close()
    assert orphans == 0
