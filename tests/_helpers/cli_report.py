"""Records with fresh ids, stores of them, and the report page, for the report tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from llmguard._core.records import Record
from llmguard.cli import main
from llmguard.sinks import JSONLSink, SQLiteSink

START = datetime(2026, 3, 1, tzinfo=timezone.utc)


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Records:
    """Builds records with fresh ids."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self._next = 0

    def add(self, name: str, at: datetime, duration: float, **fields: Any) -> Record:
        self._next += 1
        values: dict[str, Any] = {
            "trace_id": f"{self._next:032x}",
            "span_id": f"{self._next:016x}",
            "name": name,
            "kind": "llm",
            "start": _iso(at),
            "end": _iso(at + timedelta(milliseconds=duration)),
            "duration_ms": duration,
        }
        values.update(fields)
        record = Record(**values)
        self.records.append(record)
        return record


def _write(path: Path, records: list[Record]) -> Path:
    sink = SQLiteSink(path) if path.suffix == ".db" else JSONLSink(path)
    sink.emit(records)
    sink.close()
    return path


def _report(store: Path, *extra: str) -> str:
    out = store.with_name("report.html")
    assert main(["report", str(store), "-o", str(out), *extra]) == 0
    return out.read_text(encoding="utf-8")
