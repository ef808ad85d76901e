"""`read_records` over a large JSON Lines file holding copies: what it holds at once is
an entry per span and one record, never the content of the file."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from llmguard._core.records import Record
from llmguard.sinks import read_records


def _record(span: int, text: str) -> Record:
    return Record(
        trace_id=f"{span % 7:032x}",
        span_id=f"{span:016x}",
        name="call",
        kind="llm",
        start="2026-01-01T00:00:00.000000Z",
        end="2026-01-01T00:00:01.000000Z",
        duration_ms=1000.0,
        input={"prompt": text},
    )


def test_a_large_file_with_copies_is_read_in_bounded_memory(tmp_path: Path) -> None:
    """2,000 records of 8 KB (16 MB) with every span written twice: the peak held
    while reading stays under 1 MB (some 420 bytes a span written more than once,
    150 for the others, and a record or two)."""
    path = tmp_path / "calls.jsonl"
    spans = 1_000
    with open(path, "wb") as file:
        for copy in ("a", "b"):
            for span in range(spans):
                file.write(_record(span, copy * 8_000).to_json() + b"\n")
    assert path.stat().st_size > 16_000_000
    small = tmp_path / "small.jsonl"
    small.write_bytes(_record(1, "x").to_json() + b"\n")
    assert len(list(read_records(small))) == 1  # what is loaded once, outside the count
    tracemalloc.start()
    try:
        count = 0
        for record in read_records(path):
            assert record.input == {"prompt": "b" * 8_000}
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == spans
    assert peak < 1_000_000
