"""`read_records` over a JSON Lines file a sink is still writing, or that is cut and
written again while it reads: a span's copies are checked as the first pass saw the
file, so no span is lost between the two passes."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

from llmguard._core.records import Record
from llmguard.sinks import JSONLSink, read_records
from llmguard.sinks._jsonl import last_copies
from tests._helpers.cli_stores import _records


def _line(record: Record) -> bytes:
    return record.to_json() + b"\n"


class _FinishedBeforeTheCheck(io.BytesIO):
    """A file whose last line a sink is still writing: the line is finished when the
    reader first seeks back to check a span's copies, after its first pass."""

    def __init__(self, before: bytes, rest: bytes) -> None:
        super().__init__(before)
        self._rest: bytes | None = rest

    def seek(self, offset: int, whence: int = 0) -> int:
        if self._rest is not None:
            super().seek(0, io.SEEK_END)
            self.write(self._rest)
            self._rest = None
        return super().seek(offset, whence)


def test_a_copy_finished_after_the_first_pass_keeps_the_copy_before_it() -> None:
    """The first pass reads a span's second copy half written; the sink finishes the
    line before the copies are checked. The check took the finished line as the last
    copy and left the first out, and the second pass read the half line: the span was
    lost."""
    one, two = _records()[:2]
    again = dataclasses.replace(one, status="error")
    whole = _line(again)
    file = _FinishedBeforeTheCheck(_line(one) + _line(two) + whole[:100], whole[100:])
    found = list(last_copies(file, "calls.jsonl"))
    assert [(r.span_id, r.status) for r in found] == [(one.span_id, "ok"), (two.span_id, "error")]
    assert found == [one, two]


def test_read_records_takes_the_finished_copy_on_the_next_read(tmp_path: Path) -> None:
    """Once the sink has finished the line, the next read takes it as the last copy."""
    one, two = _records()[:2]
    again = dataclasses.replace(one, status="error")
    path = tmp_path / "calls.jsonl"
    sink = JSONLSink(path)
    sink.emit([one, two])
    sink.emit([again])
    sink.close()
    assert list(read_records(path)) == [two, again]


def _span(number: int) -> Record:
    return Record(
        trace_id=f"{number:032x}",
        span_id=f"{number:016x}",
        name="call",
        kind="llm",
        start=f"2026-01-01T00:00:0{number}.000000Z",
        end=f"2026-01-01T00:00:0{number}.500000Z",
        duration_ms=500.0,
    )


class _RewrittenBeforeTheCheck(io.BytesIO):
    """A file cut and written again (``copytruncate``) when the reader first seeks back
    to check a span's copies."""

    def __init__(self, before: bytes, after: bytes) -> None:
        super().__init__(before)
        self._after: bytes | None = after

    def seek(self, offset: int, whence: int = 0) -> int:
        if self._after is not None:
            super().seek(0)
            self.truncate()
            self.write(self._after)
            self._after = None
        return super().seek(offset, whence)


def test_a_file_written_again_before_the_copies_are_checked_loses_no_record() -> None:
    """The offset of a span's last copy holds another span's line by the check: that
    line is no copy of the span, and the copy before it is not left out for it."""
    one, two, three = (_span(n) for n in (1, 2, 3))
    before = _line(two) + _line(one) + _line(one)
    # rotated: lines of the same length; the span's earlier copy stands where it
    # stood, another span where its last copy stood
    after = _line(two) + _line(one) + _line(three)
    assert len(_line(one)) == len(_line(two)) == len(_line(three))
    found = list(last_copies(_RewrittenBeforeTheCheck(before, after), "rotated.jsonl"))
    assert sorted(r.span_id for r in found) == sorted(r.span_id for r in (one, two, three))
