"""Tests for llmguard.sinks.MemorySink."""

from __future__ import annotations

import threading

import pytest

from llmguard._core.records import Record
from llmguard.exceptions import ConfigurationError
from llmguard.sinks import MemorySink, Sink


def _record(index: int, **fields: object) -> Record:
    values: dict[str, object] = {
        "trace_id": "t1",
        "span_id": f"s{index}",
        "name": "triage",
        "start": "2025-01-01T00:00:00.000000Z",
        "end": "2025-01-01T00:00:01.000000Z",
        "duration_ms": 1000.0,
    }
    values.update(fields)
    return Record(**values)  # type: ignore[arg-type]


def test_emit_keeps_records_in_order() -> None:
    """Records from several batches are kept oldest first."""
    sink = MemorySink()
    first, second = [_record(0), _record(1)], [_record(2)]
    sink.emit(first)
    sink.emit(second)
    assert sink.records == [*first, *second]
    assert len(sink) == 3


def test_records_is_a_copy() -> None:
    """Changing the list returned by ``records`` does not change the sink."""
    sink = MemorySink()
    sink.emit([_record(0)])
    sink.records.clear()
    assert [r.span_id for r in sink.records] == ["s0"]


def test_max_records_drops_oldest() -> None:
    """With ``max_records`` only the newest records are kept."""
    sink = MemorySink(max_records=3)
    sink.emit([_record(i) for i in range(5)])
    sink.emit([_record(5)])
    assert [r.span_id for r in sink.records] == ["s3", "s4", "s5"]


def test_clear_forgets_records() -> None:
    """``clear`` empties the sink, which keeps taking records."""
    sink = MemorySink()
    sink.emit([_record(0)])
    sink.clear()
    assert sink.records == []
    sink.emit([_record(1)])
    assert [r.span_id for r in sink.records] == ["s1"]


def test_find_matches_every_given_field() -> None:
    """``find`` keeps the records matching all of its arguments."""
    sink = MemorySink()
    llm_ok = _record(0, kind="llm")
    llm_error = _record(1, kind="llm", status="error")
    tool = _record(2, kind="tool", name="search", trace_id="t2")
    sink.emit([llm_ok, llm_error, tool])
    assert sink.find(kind="llm") == [llm_ok, llm_error]
    assert sink.find(kind="llm", status="error") == [llm_error]
    assert sink.find(name="search") == [tool]
    assert sink.find(trace_id="t1") == [llm_ok, llm_error]
    assert sink.find(trace_id="t3") == []
    assert sink.find() == [llm_ok, llm_error, tool]


def test_records_survive_flush_and_close() -> None:
    """Flushing and closing keep the records readable."""
    sink = MemorySink()
    sink.emit([_record(0)])
    sink.flush(timeout=0.1)
    sink.close()
    assert [r.span_id for r in sink.records] == ["s0"]


def test_concurrent_emits_lose_nothing() -> None:
    """Batches emitted from many threads at once are all kept."""
    sink = MemorySink()

    def emit(thread: int) -> None:
        for batch in range(50):
            sink.emit([_record(thread * 1000 + batch * 10 + i) for i in range(10)])

    threads = [threading.Thread(target=emit, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r.span_id for r in sink.records}) == 8 * 50 * 10


@pytest.mark.parametrize("bad", [0, -1, True])
def test_invalid_max_records_is_refused(bad: int) -> None:
    """A non-positive ``max_records`` is a ConfigurationError naming the value."""
    with pytest.raises(ConfigurationError, match=f"max_records={bad!r}"):
        MemorySink(max_records=bad)


def test_is_a_sink() -> None:
    """MemorySink meets the Sink protocol."""
    assert isinstance(MemorySink(), Sink)
