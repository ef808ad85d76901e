"""Attacks on `read_records`' time filters by a JSON Lines file another program wrote:
start times with UTC offsets, without fractions, or that are no time at all."""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard.sinks import read_records

_BASE = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)


def _record(index: int, start: str) -> lg.Record:
    return lg.Record(
        trace_id=f"{index:032x}",
        span_id=f"{index:016x}",
        name="step",
        start=start,
        end=start,
        duration_ms=1.0,
    )


def _write(path: Path, records: list[lg.Record]) -> Path:
    path.write_bytes(b"".join(record.to_json() + b"\n" for record in records))
    return path


def test_a_start_with_an_offset_is_filtered_by_the_time_it_means(tmp_path: Path) -> None:
    """``10:00+02:00`` is 08:00 UTC: it is before ``since=09:00Z``, though its text sorts
    after it; ``yesterday`` is no time and matches no window."""
    path = _write(
        tmp_path / "other.jsonl",
        [
            _record(1, "2026-01-01T10:00:00+02:00"),
            _record(2, "2026-01-01T09:30:00Z"),
            _record(3, "yesterday"),
            _record(4, "2026-01-01T08:30:00-01:00"),
        ],
    )
    found = read_records(path, since="2026-01-01T09:00:00Z", until="2026-01-01T10:00:00Z")
    assert [r.span_id for r in found] == [f"{2:016x}", f"{4:016x}"]
    everything = read_records(path)
    assert len(list(everything)) == 4


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-3000, 3000), st.integers(-14 * 60, 14 * 60).map(lambda m: m // 15 * 15)
        ),
        max_size=12,
    ),
    st.integers(-3000, 3000),
    st.integers(0, 3000),
)
def test_time_filters_match_the_instants(
    tmp_path_factory: object, moments: list[tuple[int, int]], since: int, width: int
) -> None:
    """Whatever offsets the start times are written with, ``since``/``until`` keep the
    records whose instant is in the window, and only those."""
    folder: Path = tmp_path_factory.mktemp("filters")  # type: ignore[attr-defined]
    records = []
    for index, (minutes, offset) in enumerate(moments):
        zone = timezone(timedelta(minutes=offset))
        moment = (_BASE + timedelta(minutes=minutes)).astimezone(zone)
        records.append(_record(index, moment.isoformat()))
    path = _write(folder / "calls.jsonl", records)
    low = _BASE + timedelta(minutes=since)
    high = low + timedelta(minutes=width)
    found = read_records(path, since=low, until=high)
    expected = [r.span_id for r in records if low <= datetime.fromisoformat(r.start) < high]
    assert [r.span_id for r in found] == expected


def test_read_records_reads_a_pipe_whole(tmp_path: Path) -> None:
    """`read_records` on a FIFO (or ``/dev/stdin``) yields every record: the look at the
    first bytes no longer takes them from the first line, nor opens the pipe twice."""
    records = [_record(i, f"2026-01-01T10:00:0{i}.000000Z") for i in range(5)]
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as pipe:
            pipe.write(b"".join(record.to_json() + b"\n" for record in records))

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        found = list(read_records(fifo))
    finally:
        writer.join(timeout=30)
    assert [r.span_id for r in found] == [r.span_id for r in records]
