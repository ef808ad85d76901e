"""Tests for ``llmguard stats`` and the query layer (llmguard.cli._dataset)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmguard._core.records import Record
from llmguard.cli import main
from llmguard.cli._dataset import Dataset, Window
from llmguard.sinks import JSONLSink, SQLiteSink
from tests._helpers.cli_stores import _records


@pytest.fixture(params=["sqlite", "jsonl"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The same records written by either sink."""
    records = _records()
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        sink = SQLiteSink(path)
    else:
        path = tmp_path / "records.jsonl"
        sink = JSONLSink(path)  # type: ignore[assignment]
    sink.emit(records)
    sink.close()
    return path


def test_stats_equal_hand_computed_figures(store: Path) -> None:
    """Every figure of each group matches the value worked out by hand."""
    with Dataset.open(store) as dataset:
        groups = {g.key: g for g in dataset.stats(("name",))}
    assert set(groups) == {("a",), ("b",), ("c",)}
    a, b = groups[("a",)], groups[("b",)]
    assert (a.calls, a.records) == (4, 4)
    assert a.error_rate == 0.25
    assert a.schema_failure_rate == 0.25
    assert a.mean_retries == pytest.approx((0 + 2 + 0 + 1) / 4)
    assert a.limit_hits == 1
    # Nearest rank: p50 of 10, 20, 30, 40 is 20; p95 and p99 are 40.
    assert (a.p50_ms, a.p95_ms, a.p99_ms) == (20.0, 40.0, 40.0)
    assert (a.input_tokens, a.output_tokens) == (300, 30)
    assert a.cost_usd == pytest.approx(0.03)
    assert (a.feedback_mean, a.feedback_count) == (0.5, 2)
    # Two sampled calls stand for five each.
    assert (b.calls, b.records) == (11, 3)
    assert b.error_rate == pytest.approx(1 / 11)
    assert b.schema_failure_rate == 0
    assert b.mean_retries is None
    # Weighted: 100 x5, 200 x5, 300 x1 -> the 5.5th of 11 is 200, the 10.45th is 300.
    assert (b.p50_ms, b.p95_ms) == (200.0, 300.0)
    assert (b.input_tokens, b.output_tokens) == (70, 30)
    assert (b.feedback_mean, b.feedback_count) == (0.25, 1)


def test_stats_group_by_model_day_and_status(store: Path) -> None:
    """Other groupings split the same calls by their own keys."""
    with Dataset.open(store) as dataset:
        by_model = {g.key[0]: g.calls for g in dataset.stats(("model",))}
        by_status = {g.key[0]: g.calls for g in dataset.stats(("status",))}
        by_day = {g.key[0]: g.records for g in dataset.stats(("day",))}
        total = dataset.stats(())
    assert by_model == {"m1": 2, "m2": 2, "-": 12}
    assert by_status == {"ok": 13, "error": 2, "limit": 1}
    assert by_day == {"2026-01-01": 3, "2026-01-02": 3, "2026-01-03": 2}
    assert len(total) == 1
    assert total[0].calls == 16


def test_stats_window_keeps_calls_started_inside(store: Path) -> None:
    """--since includes its bound and --until excludes it."""
    with Dataset.open(store) as dataset:
        inside = dataset.stats((), Window.parse("2026-01-02", "2026-01-03"))
    assert inside[0].records == 3


def test_kinds_restrict_what_counts_as_a_call(store: Path) -> None:
    """Only llm records count when asked."""
    with Dataset.open(store) as dataset:
        names = [g.key[0] for g in dataset.stats(("name",), kinds=("llm",))]
    assert names == ["a", "b"]


def test_stats_command_prints_a_table_with_a_total(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table has one row per group and an (all) row."""
    assert main(["stats", str(store)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["name", "calls", "errors", "schema"]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert set(rows) == {"a", "b", "c", "(all)"}
    assert rows["a"][1:6] == ["4", "25.0%", "25.0%", "0.75", "1"]
    assert rows["b"][1:3] == ["11", "9.1%"]
    assert rows["(all)"][1] == "16"


def test_stats_json_is_machine_readable(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints the same figures as data."""
    assert main(["stats", str(store), "--by", "model", "--json", "--since", "2026-01-01"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["by"] == "model"
    assert document["since"] == "2026-01-01T00:00:00.000000Z"
    groups = {g["model"]: g for g in document["groups"]}
    assert groups["m1"]["calls"] == 2
    assert groups["m1"]["error_rate"] == 0.5
    assert document["total"]["calls"] == 16


def test_stats_on_an_empty_window_says_so(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No calls in the window is a message, not an error."""
    assert main(["stats", str(store), "--since", "2030-01-01"]) == 0
    assert "no calls" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stats", "{missing}"], "no such file"),
        (["stats", "{store}", "--since", "yesterday"], "not an ISO 8601 date or time"),
        (
            ["stats", "{store}", "--since", "2026-02-01", "--until", "2026-01-01"],
            "empty time range",
        ),
        (["stats", "{garbage}"], "not a trace record"),
        (["stats", "{notstore}"], "not an llmguard store"),
        (["stats", "{store}", "--by", "colour"], "invalid choice"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    argv: list[str],
    message: str,
    store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Bad input gives one line on stderr naming the problem, exit status 2, no traceback."""
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text('{not json\n{"kind": "llm"}\n')
    notstore = tmp_path / "other.db"
    import sqlite3

    with sqlite3.connect(notstore) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    paths = {
        "missing": tmp_path / "nope.db",
        "store": store,
        "garbage": garbage,
        "notstore": notstore,
    }
    argv = [arg.format(**paths) for arg in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert message in captured.err
    assert "Traceback" not in captured.err


def test_a_real_schema_failure_counts(tmp_path: Path) -> None:
    """A guarded call that exhausts its retries is counted as a schema failure."""

    from pydantic import BaseModel

    import llmguard as lg
    from llmguard.testing import FakeLLM

    class Answer(BaseModel):
        n: int

    fake = FakeLLM(["nope", "still no"], model="gpt-4o-mini")

    @lg.guard(schema=Answer, retries=1)
    def ask(messages: list[dict[str, str]]) -> Any:
        return fake(model="gpt-4o-mini", messages=messages)

    path = tmp_path / "store.db"
    lg.configure(sinks=[SQLiteSink(path)])
    with pytest.raises(lg.SchemaViolation):
        ask([{"role": "user", "content": "a number"}])
    lg.flush()
    with Dataset.open(path) as dataset:
        (figures,) = dataset.stats((), kinds=("llm",))
    assert (figures.calls, figures.error_rate, figures.schema_failure_rate) == (1, 1.0, 1.0)
    assert figures.mean_retries == 1


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "-"),
        (9_999, "9,999"),
        (12_345, "12.3k"),
        (999_949, "999.9k"),
        (999_950, "1.0M"),
        (3_917_600, "3.9M"),
        (42_000_000, "42.0M"),
    ],
)
def test_token_totals_are_abbreviated_by_size(value: float | None, shown: str) -> None:
    """Totals read 12.3k from ten thousand and 3.9M from a million, never 3917.6k."""
    from llmguard.cli import _format

    assert _format.tokens(value) == shown


def _repaired_records() -> list[Record]:
    """Two functions' calls and attempts; three attempts repaired by json-repair, one by a fence."""

    def record(index: int, name: str, kind: str, **fields: Any) -> Record:
        values: dict[str, Any] = {
            "trace_id": f"{index:032x}",
            "span_id": f"{index:016x}",
            "name": name,
            "kind": kind,
            "start": f"2026-01-0{1 + (index - 1) // 4 % 2}T10:00:{index:02d}.000000Z",
            "end": f"2026-01-0{1 + (index - 1) // 4 % 2}T10:00:{index:02d}.500000Z",
            "duration_ms": 500.0,
            "model": "m1",
        }
        values.update(fields)
        return Record(**values)

    def attempt(index: int, function: str, repair: str | None, **fields: Any) -> Record:
        summary: dict[str, Any] = {"number": 1, "outcome": "ok", "function": function}
        if repair is not None:
            summary["repair"] = summary["stage"] = repair
        return record(index, "attempt 1", "attempt", attempt=summary, **fields)

    return [
        record(1, "a", "llm", attempt={"count": 1}),
        attempt(2, "a", "json_repair"),
        record(3, "a", "llm", attempt={"count": 1}, sample_weight=4.0),
        attempt(4, "a", "json_repair", sample_weight=4.0),
        record(5, "b", "llm", attempt={"count": 1}),
        attempt(6, "b", "json_repair"),
        record(7, "b", "llm", attempt={"count": 1}),
        attempt(8, "b", "fence"),
        attempt(9, "b", None),
    ]


@pytest.fixture(params=[".db", ".jsonl"])
def repaired_store(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """`_repaired_records` written by either sink."""
    path = tmp_path / f"repaired{request.param}"
    sink = SQLiteSink(path) if request.param == ".db" else JSONLSink(path)
    sink.emit(_repaired_records())
    sink.close()
    return path


def test_stats_count_attempts_repaired_by_json_repair(repaired_store: Path) -> None:
    """Repaired attempts count, weighted, for the function they belong to; a fence does not."""
    with Dataset.open(repaired_store) as dataset:
        groups, total = dataset.summary(("name",))
        by_day = {g.key: g.repaired for g in dataset.stats(("day",))}
        only_tools = dataset.summary(("name",), kinds=("tool",))[1]
    assert {g.key: g.repaired for g in groups} == {("a",): 5.0, ("b",): 1.0}
    assert total is not None
    assert total.repaired == 6.0
    assert by_day == {("2026-01-01",): 5.0, ("2026-01-02",): 1.0}
    assert only_tools is None


def test_stats_table_shows_repaired_only_when_there_are_some(
    repaired_store: Path, store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table gains a 'repaired' column after 'retries' when an attempt was repaired."""
    assert main(["stats", str(repaired_store)]) == 0
    header, _, a, b, total = capsys.readouterr().out.splitlines()
    assert header.split()[:6] == ["name", "calls", "errors", "schema", "retries", "repaired"]
    assert (a.split()[5], b.split()[5], total.split()[5]) == ("5", "1", "6")
    assert main(["stats", str(store)]) == 0
    assert "repaired" not in capsys.readouterr().out
    assert main(["stats", "--json", str(store)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [g["repaired"] for g in document["groups"]] == [0.0, 0.0, 0.0]
