"""`Dataset.samples_by` reads the calls in chunks and serves several groupings at once.

Its pairs must be those of `Dataset.values`, in the same order, whatever the chunk
boundaries; the metrics it may leave unsorted hold the same pairs in the order read.
"""

from __future__ import annotations

import operator
import random
import sqlite3
from pathlib import Path
from typing import get_args

import pytest

import llmguard.cli._dataset as dataset_module
from llmguard._core.records import Record, Usage
from llmguard.cli._dataset import Dataset, Metric, Window
from llmguard.sinks import JSONLSink, SQLiteSink

_METRICS: tuple[Metric, ...] = get_args(Metric)


def _calls(count: int) -> list[Record]:
    rng = random.Random(4)
    records = []
    for index in range(count):
        kind = "tool" if index % 7 == 0 else "llm"
        records.append(
            Record(
                trace_id=f"{index:032x}",
                span_id=f"{index:016x}",
                name=rng.choice(("a", "b", "c")),
                kind=kind,
                status=rng.choice(("ok", "ok", "ok", "error", "limit")),
                start=f"2026-01-{1 + index % 9:02d}T{index % 24:02d}:00:00.000000Z",
                end=f"2026-01-{1 + index % 9:02d}T{index % 24:02d}:00:01.000000Z",
                # Few distinct values: many ties, whose order the sort must keep.
                duration_ms=float(rng.randrange(40)),
                model=rng.choice(("m1", "m2")),
                prompt_name="p",
                prompt_version=rng.choice(("v1", "v2", None)),
                usage=None if kind == "tool" else Usage(input=5, output=rng.randrange(9)),
                cost_usd=None if kind == "tool" else rng.randrange(5) / 100,
                attempt=None if kind == "tool" else {"count": rng.choice((1, 1, 2, 3))},
                sample_weight=rng.choice((1.0, 1.0, 4.0, 2.5)),
            )
        )
    return records


@pytest.fixture(params=[".db", ".jsonl"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / f"calls{request.param}"
    sink = SQLiteSink(path) if request.param == ".db" else JSONLSink(path)
    sink.emit(_calls(700))
    sink.close()
    return path


@pytest.mark.parametrize("chunk", [1, 7, 20_000])
def test_samples_are_the_values_in_order_across_chunks(
    store: Path, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each grouping's pairs per metric equal `values`, sorted or in the order read."""
    monkeypatch.setattr(dataset_module, "_FETCH_ROWS", chunk)
    groupings = (("name",), ("prompt",), ("day", "model"))
    unsorted: tuple[Metric, ...] = ("error", "retries")
    window = Window.parse("2026-01-02", "2026-01-08")
    with Dataset.open(store) as dataset:
        found_by = dataset.samples_by(_METRICS, groupings, window, any_order=unsorted)
        for by, found in zip(groupings, found_by, strict=True):
            assert found == dataset.samples(_METRICS, by, window, any_order=unsorted)
            for metric in _METRICS:
                expected = dataset.values(metric, by, window)
                got = {key: pairs[metric] for key, pairs in found.items() if metric in pairs}
                if metric in unsorted:
                    by_value = operator.itemgetter(0)
                    got = {key: sorted(pairs, key=by_value) for key, pairs in got.items()}
                    expected = {key: sorted(pairs, key=by_value) for key, pairs in expected.items()}
                assert got == expected


def test_values_that_read_as_the_same_text_are_one_group(tmp_path: Path) -> None:
    """A blob and a string that print alike (a store not written by llmguard) group
    together, their pairs in the order read, as `values` groups them."""
    path = tmp_path / "odd.db"
    sink = SQLiteSink(path)
    sink.emit(_calls(60))
    sink.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE records SET model = X'31' WHERE rowid % 3 = 0")
        conn.execute("UPDATE records SET model = 'b''1''' WHERE rowid % 3 = 1")
    with Dataset.open(path) as dataset:
        found = dataset.samples(("duration_ms",), ("model",))
        expected = dataset.values("duration_ms", ("model",))
        assert sorted(found) == sorted(expected) == [("b'1'",), ("m1",), ("m2",)]
        assert {key: pairs["duration_ms"] for key, pairs in found.items()} == expected


def test_queries_run_while_a_sink_writes(tmp_path: Path) -> None:
    """A store being written to answers every query: counts only grow, nothing fails."""
    import threading

    from llmguard.cli._drift import load_by

    path = tmp_path / "live.db"
    records = _calls(3000)
    sink = SQLiteSink(path)
    sink.emit(records[:300])
    done = threading.Event()

    def write() -> None:
        for start in range(300, len(records), 300):
            sink.emit(records[start : start + 300])
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    seen: list[float] = []
    try:
        while not done.is_set() or len(seen) < 3:
            with Dataset.open(path) as dataset:
                groups, total = dataset.summaries((("name",), ("day", "name")))[0]
                assert total is not None
                assert total.calls == sum(g.calls for g in groups)
                seen.append(total.records)
                assert load_by(dataset, ("name", "prompt"), Window())[0]
    finally:
        writer.join()
        sink.close()
    assert seen == sorted(seen)
    with Dataset.open(path) as dataset:
        _, last = dataset.summary(("name",))
    assert last is not None
    assert last.records == len(records)
