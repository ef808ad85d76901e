"""A record holding an integer longer than Python's int-string limit (4,300 digits) is
read back: pydantic-core writes one, but Python will not parse it (ValueError), so every
reader skipped the record as "not a trace record"."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmguard._core.records import Record
from llmguard.cli import main
from llmguard.sinks import JSONLSink, SQLiteSink, read_records

# 5,000 sevens, made without parsing text (which the limit forbids), and as text.
_HUGE = 7 * (10**5000 - 1) // 9
_DIGITS = "7" * 5000


def _record(span: int, **fields: object) -> Record:
    values: dict[str, object] = {
        "trace_id": f"{span:032x}",
        "span_id": f"{span:016x}",
        "name": "answer",
        "kind": "llm",
        "start": f"2026-01-01T10:00:{span:02d}.000000Z",
        "end": f"2026-01-01T10:00:{span:02d}.500000Z",
        "duration_ms": 500.0,
    }
    values.update(fields)
    return Record(**values)  # type: ignore[arg-type]


def _write(path: Path, records: list[Record]) -> Path:
    sink = SQLiteSink(path) if path.suffix == ".db" else JSONLSink(path)
    sink.emit(records)
    sink.close()
    return path


@pytest.fixture(params=["calls.jsonl", "calls.db"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    records = [
        _record(1, output={"answer": _HUGE, "negative": -_HUGE}),
        _record(2, metadata={"big": _HUGE}),
        _record(3),
    ]
    return _write(tmp_path / request.param, records)


def test_the_commands_count_a_record_holding_a_huge_integer(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``stats`` counts the three calls and warns about no unreadable line."""
    assert main(["stats", str(store), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["total"]["records"] == 3
    assert captured.err == ""


def test_show_prints_the_record_holding_a_huge_integer(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``show`` finds the trace and prints its span, and the digits stay whole where the
    record is read back."""
    assert main(["show", str(store), f"{1:032x}"]) == 0
    out = capsys.readouterr().out
    assert "answer" in out
    (record,) = read_records(store, trace_id=f"{1:032x}")
    assert record.output == {"answer": _DIGITS, "negative": "-" + _DIGITS}


def test_read_records_returns_every_record(store: Path) -> None:
    """The public reader returns all three records, the huge numbers as their digits."""
    found = {record.span_id: record for record in read_records(store)}
    assert len(found) == 3
    assert found[f"{2:016x}"].metadata == {"big": _DIGITS}


def test_the_process_limit_is_left_alone(store: Path) -> None:
    """Reading changes no process-wide setting."""
    before = sys.get_int_max_str_digits()
    list(read_records(store))
    assert sys.get_int_max_str_digits() == before


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    digits=st.integers(4_250, 4_400),
    sign=st.sampled_from(["", "-"]),
    where=st.sampled_from(["output", "metadata", "input"]),
)
def test_integers_around_the_limit_are_read_whole(
    tmp_path_factory: pytest.TempPathFactory, digits: int, sign: str, where: str
) -> None:
    """Integers just under the limit stay integers, those over it come back as their
    digits; the record is read either way, from both stores."""
    value = (10**digits - 1) * (-1 if sign else 1)
    container = {"n": value} if where != "input" else {"messages": [{"n": value}]}
    tmp = tmp_path_factory.mktemp("near")
    for name in ("calls.jsonl", "calls.db"):
        path = _write(tmp / name, [_record(1, **{where: container})])
        (record,) = read_records(path)
        held = getattr(record, where)
        found = held["n"] if where != "input" else held["messages"][0]["n"]
        assert found == (value if digits <= 4_300 else sign + "9" * digits)
