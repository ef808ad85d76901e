"""SQLiteSink's write path: the rows it stores are the ones the sink stored before it
bound NULLs as a sentinel and built each row as SQLite takes it."""

from __future__ import annotations

import math
import os
import sqlite3
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from llmguard._core.records import Record, RecordKind, Usage
from llmguard.sinks import SQLiteSink, SQLiteStore, table
from tests._helpers.strategies import captured_content

_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
_OPTIONAL_TEXT = st.none() | _TEXT
_NUMBER = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**63), 2**63 - 1)
_ANY = st.none() | st.booleans() | _NUMBER | st.integers() | _TEXT


def _old_row(record: Record) -> tuple[object, ...]:
    """The row the sink bound before this change, spelled out as it was then."""
    usage = record.usage
    attempt = record.attempt
    kind = record.kind
    return (
        record.span_id,
        record.trace_id,
        record.parent_id,
        kind,
        record.name,
        record.status,
        record.start,
        record.end,
        record.duration_ms,
        record.model,
        record.provider,
        record.prompt_name,
        record.prompt_version,
        record.service,
        None if usage is None else usage.input,
        None if usage is None else usage.output,
        record.cost_usd,
        record.error_type,
        table._retries(attempt) if kind == "llm" and attempt is not None else None,
        record.sample_weight,
        table._score(record.metadata.get("score")) if kind == "feedback" else None,
        table._text(attempt, "repair") if kind == "attempt" and attempt is not None else None,
        table._text(attempt, "function") if kind == "attempt" and attempt is not None else None,
    )


def _old_write(conn: sqlite3.Connection, records: list[Record]) -> None:
    """The statements the sink ran for a batch before this change."""
    columns = ", ".join(f'"{column}"' for column in table.COLUMNS)
    marks = ", ".join("?" * (len(table.COLUMNS) - 1))
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        f"INSERT INTO records ({columns}) VALUES ({marks}, '')", map(_old_row, records)
    )
    conn.executemany(
        "INSERT INTO contents (id, body) VALUES (?, ?)",
        ((number, record.to_json().decode()) for number, record in enumerate(records, 1)),
    )
    conn.execute("COMMIT")


def _dump(conn: sqlite3.Connection) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Every stored value with its SQLite type, NaN made comparable."""
    columns = [f'"{column}"' for column in table.COLUMNS]
    picked = ", ".join(f"{column}, typeof({column})" for column in columns)
    rows = conn.execute(f"SELECT rowid, {picked} FROM records ORDER BY rowid").fetchall()
    bodies = conn.execute("SELECT id, body, typeof(body) FROM contents ORDER BY id").fetchall()
    return [tuple(_comparable(v) for v in r) for r in rows], bodies


def _comparable(value: object) -> object:
    return "NaN" if isinstance(value, float) and math.isnan(value) else value


# The properties below write a fresh store per example, and syncing it to disk took most
# of their time; what they compare is what SQLite stores, the same in memory. So the
# sink's file goes to a memory file system where there is one.
_MEMORY_FS = Path("/dev/shm")
_SCRATCH = str(_MEMORY_FS) if _MEMORY_FS.is_dir() and os.access(_MEMORY_FS, os.W_OK) else None


@contextmanager
def _stores() -> Iterator[tuple[Path, sqlite3.Connection]]:
    """A path for the sink and an empty store of the same schema for the old statements."""
    with tempfile.TemporaryDirectory(dir=_SCRATCH) as folder:
        old = sqlite3.connect(":memory:", isolation_level=None)
        try:
            table.migrate(old)
            yield Path(folder) / "new.db", old
        finally:
            old.close()


def _written(path: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with sqlite3.connect(path) as conn:
        dumped = _dump(conn)
    conn.close()
    return dumped


_ATTEMPT = st.dictionaries(st.sampled_from(["count", "repair", "function", "number"]), _ANY)
_METADATA = st.dictionaries(st.sampled_from(["score", "tenant"]), _ANY)


@st.composite
def _records(draw: st.DrawFn) -> Record:
    usage = draw(
        st.none()
        | st.builds(
            Usage,
            input=st.none() | st.integers(0, 2**63 - 1),
            output=st.none() | st.integers(0, 2**63 - 1),
        )
    )
    return Record(
        trace_id=draw(st.text(alphabet="0123456789abcdef", min_size=1, max_size=32)),
        span_id=draw(st.text(alphabet="0123456789abcdef", min_size=1, max_size=16)),
        name=draw(_TEXT),
        start=draw(st.sampled_from(["2025-03-01T12:00:00.000000Z", "2025-03-01T12:00:01Z"])),
        end="2025-03-01T12:00:02.000000Z",
        duration_ms=draw(st.floats(allow_nan=True, allow_infinity=True)),
        parent_id=draw(_OPTIONAL_TEXT),
        kind=draw(st.sampled_from(["llm", "attempt", "tool", "agent", "step", "span", "feedback"])),
        status=draw(st.sampled_from(["ok", "error", "limit"])),
        error_type=draw(_OPTIONAL_TEXT),
        service=draw(_OPTIONAL_TEXT),
        model=draw(_OPTIONAL_TEXT),
        provider=draw(_OPTIONAL_TEXT),
        prompt_name=draw(_OPTIONAL_TEXT),
        prompt_version=draw(_OPTIONAL_TEXT),
        usage=usage,
        cost_usd=draw(st.none() | st.floats(allow_nan=True, allow_infinity=True)),
        attempt=draw(st.none() | _ATTEMPT),
        input=draw(captured_content(max_leaves=8)),
        output=draw(captured_content(max_leaves=4)),
        metadata=draw(_METADATA),
        sample_weight=draw(st.floats(min_value=0.0, max_value=1e6)),
    )


def _span(record: Record) -> tuple[str, str]:
    # The old statements kept every copy of a span; the store keeps the last one.
    return record.trace_id, record.span_id


def _serializable(record: Record) -> bool:
    try:
        record.to_json()
    except Exception:  # content the serializers refuse: the sink's batch would fail
        return False
    return True


def _row_case(index: int, kind: RecordKind, **fields: Any) -> Record:
    """A record of ``kind`` with the given columns, the rest as a traced call leaves them."""
    return Record(
        trace_id=f"{index:032x}",
        span_id=f"{index:016x}",
        name="",
        start="2025-03-01T12:00:00.000000Z",
        end="2025-03-01T12:00:02.000000Z",
        duration_ms=fields.pop("duration_ms", 0.0),
        kind=kind,
        **fields,
    )


# The rows where building a row differently from the old statements shows: each value
# that is empty but not NULL ('' and 0 and 0.0, a first attempt's 0 retries), a column
# read from the wrong kind's fields (a score off feedback, repair and function off
# attempts, retries off llm calls), counts and scores of the wrong type or out of range,
# NaN and infinities, and every often-NULL column NULL.
_FALSY_BUT_SET = [
    _row_case(
        1,
        "llm",
        parent_id="",
        model="",
        provider="",
        prompt_name="",
        prompt_version="",
        service="",
        error_type="",
        usage=Usage(input=0, output=0),
        cost_usd=0.0,
        attempt={"count": 1, "repair": "r", "function": "f"},
        metadata={"score": 0.5},
        sample_weight=0.0,
    ),
    _row_case(
        2,
        "attempt",
        usage=Usage(input=7, output=None),
        attempt={"count": 3, "repair": "", "function": "tool"},
        metadata={"score": 1},
        duration_ms=math.nan,
        cost_usd=math.inf,
    ),
    _row_case(3, "feedback", attempt={"count": 2, "repair": "r"}, metadata={"score": 0}),
    _row_case(4, "feedback", metadata={"score": 10**400}),
    _row_case(5, "llm", usage=Usage(input=None, output=5), attempt={"count": True}),
    _row_case(6, "llm", attempt={"count": 2**63 + 1}, cost_usd=-0.0),
]
_WRONG_TYPES = [
    _row_case(7, "feedback", metadata={"score": True}),
    _row_case(8, "feedback", metadata={"score": "0.5"}),
    _row_case(9, "attempt", attempt={"repair": 1, "function": None}),
    _row_case(10, "llm", attempt={"count": 0}),
    _row_case(11, "llm", attempt={"count": 2**63}, duration_ms=-math.inf),
    _row_case(12, "span", usage=Usage(), attempt={}),
]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_records().filter(_serializable), min_size=1, max_size=6, unique_by=_span))
@example(_FALSY_BUT_SET)
@example(_WRONG_TYPES)
def test_rows_are_the_ones_the_old_statements_stored(records: list[Record]) -> None:
    """Every column's value and SQLite type, and every body, match the old write path."""
    with _stores() as (path, old):
        sink = SQLiteSink(path)
        sink.emit(records)
        sink.close()
        _old_write(old, records)
        assert _written(path) == _dump(old)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_records().filter(_serializable), min_size=1, max_size=4, unique_by=_span))
def test_records_read_back_as_they_were_written(records: list[Record]) -> None:
    """SQLiteStore returns each record as its JSON reads back (NaN and infinities as null),
    and skips the ones whose JSON is no record (a NaN duration, null in JSON)."""
    with _stores() as (path, _):
        sink = SQLiteSink(path)
        sink.emit(records)
        sink.close()
        with SQLiteStore(path) as store:
            back = sorted(r.to_json() for r in store.records())
    expected = [text for text in map(_read_back, records) if text is not None]
    assert back == sorted(expected)


def _read_back(record: Record) -> bytes | None:
    try:
        return Record.from_json(record.to_json()).to_json()
    except (ValueError, TypeError):
        return None


def _traced(index: int) -> Record:
    """A traced call's record: a dozen of its columns are NULL."""
    return Record(
        trace_id=f"{index:032x}",
        span_id=f"{index:016x}",
        name="answer",
        start=f"2025-03-01T12:00:{index % 60:02d}.000000Z",
        end="2025-03-01T12:01:00.000000Z",
        duration_ms=12.5,
        input={"messages": [{"role": "user", "content": "hello"}]},
    )


def test_null_columns_hold_null_not_the_sentinel(tmp_path: Path) -> None:
    """Columns a record leaves empty are NULL: no blob reaches the store."""
    path = tmp_path / "llmguard.db"
    sink = SQLiteSink(path)
    sink.emit([_traced(i) for i in range(3)])
    sink.close()
    with sqlite3.connect(path) as conn:
        blobs = [
            column
            for column in table.COLUMNS
            if conn.execute(
                f"SELECT count(*) FROM records WHERE typeof(\"{column}\") = 'blob'"
            ).fetchone()[0]
        ]
        nulls = conn.execute(
            "SELECT count(*) FROM records WHERE parent_id IS NULL AND model IS NULL "
            "AND input_tokens IS NULL AND cost_usd IS NULL AND function IS NULL"
        ).fetchone()[0]
    conn.close()
    assert blobs == []
    assert nulls == 3


@pytest.fixture
def bytearray_adapter() -> Iterator[None]:
    """An application that stores bytearrays as text, for every connection it opens."""
    key = (bytearray, sqlite3.PrepareProtocol)
    sqlite3.register_adapter(bytearray, lambda value: value.decode())
    try:
        yield
    finally:
        del sqlite3.adapters[key]


@pytest.mark.usefixtures("bytearray_adapter")
def test_an_application_adapting_bytearrays_still_gets_null(tmp_path: Path) -> None:
    """The sentinel is not used while the application adapts bytearrays."""
    path = tmp_path / "llmguard.db"
    sink = SQLiteSink(path)
    sink.emit([_traced(0)])
    sink.close()
    with sqlite3.connect(path) as conn:
        found = conn.execute("SELECT parent_id, typeof(model) FROM records").fetchone()
    conn.close()
    assert found == (None, "null")


class _Unserializable(Record):
    def to_json(self) -> bytes:
        raise ValueError("cannot serialize")


def test_a_record_that_cannot_be_serialized_fails_its_batch_before_it_starts(
    tmp_path: Path,
) -> None:
    """Nothing of the failed batch is stored, and the next batch is written whole."""
    path = tmp_path / "llmguard.db"
    sink = SQLiteSink(path)
    sink.emit([_traced(0)])
    bad = _Unserializable(**_fields(_traced(1)))
    with pytest.raises(ValueError, match="cannot serialize"):
        sink.emit([_traced(2), bad])
    sink.emit([_traced(3)])
    sink.close()
    with SQLiteStore(path) as store:
        assert [r.span_id for r in store.records()] == [f"{0:016x}", f"{3:016x}"]
    with sqlite3.connect(path) as conn:
        ids = conn.execute("SELECT id FROM contents ORDER BY id").fetchall()
        rowids = conn.execute("SELECT rowid FROM records ORDER BY rowid").fetchall()
    conn.close()
    assert ids == rowids


def _fields(record: Record) -> Mapping[str, Any]:
    return {
        "trace_id": record.trace_id,
        "span_id": record.span_id,
        "name": record.name,
        "start": record.start,
        "end": record.end,
        "duration_ms": record.duration_ms,
    }
