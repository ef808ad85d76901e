"""Tests for the llmguard.sinks facade: exports, read_records and sink_from_url."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from llmguard._core.records import Record, Usage
from llmguard.exceptions import ConfigurationError
from llmguard.sinks import (
    JSONLSink,
    MemorySink,
    Sink,
    SQLiteSink,
    read_records,
    sink_from_url,
)


def _record(index: int, **fields: object) -> Record:
    values: dict[str, object] = {
        "trace_id": "trace-a",
        "span_id": f"{index:016x}",
        "name": "triage",
        "start": f"2025-03-01T12:{index:02d}:00.000000Z",
        "end": f"2025-03-01T12:{index:02d}:01.000000Z",
        "duration_ms": 1000.0,
        "usage": Usage(input=index, output=1),
        "metadata": {"index": index},
    }
    values.update(fields)
    return Record(**values)  # type: ignore[arg-type]


_RECORDS = [
    _record(0, kind="llm"),
    _record(1, kind="attempt", status="error"),
    _record(2, kind="tool", name="search", trace_id="trace-b"),
    _record(3, kind="llm", status="limit", trace_id="trace-b"),
    _record(4, kind="llm"),
]


def test_import_does_not_load_structlog() -> None:
    """Importing llmguard.sinks leaves structlog unimported until a StructlogSink is made."""
    code = (
        "import sys, llmguard.sinks\n"
        "assert 'structlog' not in sys.modules, 'imported early'\n"
        "llmguard.sinks.StructlogSink()\n"
        "assert 'structlog' in sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def _write(path: Path, kind: str) -> None:
    sink: Sink = SQLiteSink(path) if kind == "sqlite" else JSONLSink(path)
    sink.emit(_RECORDS[:3])
    sink.emit(_RECORDS[3:])
    sink.close()


@pytest.mark.parametrize("kind", ["sqlite", "jsonl"])
def test_read_records_tells_the_format_by_content(tmp_path: Path, kind: str) -> None:
    """read_records reads a store or a JSON Lines file whatever the file is called."""
    path = tmp_path / "records.data"
    _write(path, kind)
    assert list(read_records(path)) == _RECORDS


@pytest.mark.parametrize("kind", ["sqlite", "jsonl"])
@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"trace_id": "trace-b"}, [2, 3]),
        ({"kind": "llm"}, [0, 3, 4]),
        ({"name": "search"}, [2]),
        ({"status": "error"}, [1]),
        ({"kind": "llm", "trace_id": "trace-a"}, [0, 4]),
        ({"since": "2025-03-01T12:03:00Z"}, [3, 4]),
        ({"until": datetime(2025, 3, 1, 12, 1, tzinfo=timezone.utc)}, [0]),
        ({"since": "2025-03-01T12:01:00Z", "until": "2025-03-01T12:04:00Z"}, [1, 2, 3]),
        ({"kind": "llm", "limit": 2}, [0, 3]),
        ({"limit": 0}, []),
    ],
)
def test_read_records_applies_filters(
    tmp_path: Path, kind: str, filters: dict[str, object], expected: list[int]
) -> None:
    """Both formats give the same records for the same filters."""
    path = tmp_path / f"records.{kind}"
    _write(path, kind)
    got = list(read_records(path, **filters))  # type: ignore[arg-type]
    assert got == [_RECORDS[i] for i in expected]


@pytest.mark.parametrize("kind", ["sqlite", "jsonl"])
def test_read_records_refuses_bad_filters_at_the_call(tmp_path: Path, kind: str) -> None:
    """A bad limit or time bound raises when read_records is called, not later."""
    path = tmp_path / f"records.{kind}"
    _write(path, kind)
    with pytest.raises(ValueError, match="limit"):
        read_records(path, limit=-5)
    with pytest.raises(ValueError, match="'last week'"):
        read_records(path, since="last week")


def test_read_records_missing_file(tmp_path: Path) -> None:
    """A missing file raises FileNotFoundError at the call."""
    with pytest.raises(FileNotFoundError):
        read_records(tmp_path / "nope.jsonl")


def test_read_records_empty_file_has_no_records(tmp_path: Path) -> None:
    """An empty file reads as no records."""
    path = tmp_path / "empty.jsonl"
    path.touch()
    assert list(read_records(path)) == []


def test_sink_from_url_sqlite_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``sqlite:///a.db`` is a.db in the working directory."""
    monkeypatch.chdir(tmp_path)
    sink = sink_from_url("sqlite:///data/a.db")
    assert isinstance(sink, SQLiteSink)
    assert sink.path == Path("data/a.db")
    sink.emit(_RECORDS)
    sink.close()
    assert list(read_records(tmp_path / "data" / "a.db")) == _RECORDS


def test_sink_from_url_sqlite_absolute(tmp_path: Path) -> None:
    """``sqlite:////abs/a.db`` is the absolute path /abs/a.db."""
    sink = sink_from_url(f"sqlite:///{tmp_path}/a.db")
    assert isinstance(sink, SQLiteSink)
    assert sink.path == tmp_path / "a.db"
    assert sink.path.is_absolute()


def test_sink_from_url_jsonl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``jsonl:///`` URLs follow the same relative and absolute rule."""
    monkeypatch.chdir(tmp_path)
    relative = sink_from_url("jsonl:///trace.jsonl")
    absolute = sink_from_url(f"JSONL:///{tmp_path}/other.jsonl ")
    assert isinstance(relative, JSONLSink)
    assert isinstance(absolute, JSONLSink)
    assert relative.path == Path("trace.jsonl")
    assert absolute.path == tmp_path / "other.jsonl"
    relative.emit(_RECORDS[:1])
    relative.close()
    assert list(read_records(tmp_path / "trace.jsonl")) == _RECORDS[:1]


def test_sink_from_url_memory() -> None:
    """``memory://`` is a new MemorySink."""
    assert isinstance(sink_from_url("memory://"), MemorySink)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "llmguard.db",
        "sqlite://",
        "sqlite:///",
        "sqlite://a.db",
        "jsonl://trace.jsonl",
        "memory://x",
        "postgres:///db",
        "sqlite:///a.db?mode=ro",
    ],
)
def test_sink_from_url_refuses_other_values(url: str) -> None:
    """Anything else is a ConfigurationError naming the value and the accepted forms."""
    with pytest.raises(ConfigurationError) as caught:
        sink_from_url(url)
    message = str(caught.value)
    assert repr(url) in message
    assert "sqlite:///relative/path.db" in message
    assert "jsonl:////absolute/path.jsonl" in message
    assert "memory://" in message


@pytest.mark.parametrize("scheme", ["sqlite", "jsonl"])
def test_sink_from_url_refuses_a_path_that_cannot_work(tmp_path: Path, scheme: str) -> None:
    """A URL naming a directory is a ConfigurationError naming the URL and the problem."""
    url = f"{scheme}:///{tmp_path}"
    with pytest.raises(ConfigurationError) as caught:
        sink_from_url(url)
    assert repr(url) in str(caught.value)
    assert "it is a directory" in str(caught.value)
