"""A span's last copy decides, in a JSON Lines file as in a store, even when that copy is
one the commands leave out (an unusable start time, a figure no call can have): the
loader checked each line before keeping the last copy, so a later copy left out let an
earlier one be counted, and an earlier copy left out was counted as left out although a
later copy of the span was read."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmguard._core.records import Record
from llmguard.cli._dataset import Dataset
from llmguard.sinks import JSONLSink, SQLiteSink
from tests._helpers.cli_stores import _records

_VARIANTS = {
    "usable": {},
    "weightless": {"sample_weight": -1.0},
    "costless": {"cost_usd": -0.5},
    "timeless": {"start": "yesterday"},
}


def _copy(record: Record, variant: str, number: int) -> Record:
    """A copy of ``record`` told apart from the others by its duration."""
    changes: dict[str, object] = {"duration_ms": 1000.0 + number, **_VARIANTS[variant]}
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


def _read(path: Path, *batches: list[Record]) -> tuple[object, ...]:
    """What the commands read from the batches written to ``path``: the calls' groups,
    each call's duration, and the counts of records left out."""
    sink = SQLiteSink(path) if path.suffix == ".db" else JSONLSink(path)
    for batch in batches:
        sink.emit(batch)
    sink.close()
    with Dataset.open(path) as dataset:
        groups = [(group.key, group.calls) for group in dataset.stats()]
        durations = sorted(r.duration_ms for r in dataset.calls())
        return groups, durations, dataset.impossible, dataset.unusable


@pytest.mark.parametrize("later", ["weightless", "costless", "timeless"])
def test_a_later_copy_left_out_leaves_the_span_out_of_a_jsonl_file(
    tmp_path: Path, later: str
) -> None:
    """A usable copy, then one the commands leave out: the span is left out of both
    kinds of file, and counted once."""
    calls = _records()
    batches = (calls, [_copy(calls[0], later, 1)])
    store = _read(tmp_path / "store.db", *batches)
    lines = _read(tmp_path / "lines.jsonl", *batches)
    assert lines == store
    assert 10.0 not in lines[1]  # type: ignore[operator]
    assert lines[2:] == ((0, 1) if later == "timeless" else (1, 0))


@pytest.mark.parametrize("earlier", ["weightless", "costless", "timeless"])
def test_a_later_usable_copy_brings_the_span_back_in_a_jsonl_file(
    tmp_path: Path, earlier: str
) -> None:
    """A copy the commands leave out, then a usable one: the span is read, and nothing
    is said to be left out."""
    calls = _records()
    batches = ([_copy(calls[0], earlier, 1)], calls)
    store = _read(tmp_path / "store.db", *batches)
    lines = _read(tmp_path / "lines.jsonl", *batches)
    assert lines == store
    assert lines[2:] == (0, 0)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.sampled_from(sorted(_VARIANTS))), min_size=1, max_size=8
    )
)
def test_copies_in_any_order_read_alike_from_both_kinds_of_file(
    tmp_path_factory: pytest.TempPathFactory, copies: list[tuple[int, str]]
) -> None:
    """Copies of three spans, each usable or not, one batch per copy: a JSON Lines file
    reads as the store does, and the counts left out are those of the spans whose last
    copy is left out."""
    calls = [r for r in _records() if r.kind == "llm"][:3]
    batches = [[_copy(calls[span], variant, n)] for n, (span, variant) in enumerate(copies)]
    folder = tmp_path_factory.mktemp("copies")
    store = _read(folder / "store.db", *batches)
    lines = _read(folder / "lines.jsonl", *batches)
    assert lines == store
    last = dict(copies)
    assert lines[2] == sum(v in ("weightless", "costless") for v in last.values())
    assert lines[3] == sum(v == "timeless" for v in last.values())
    assert lines[1] == sorted(
        1000.0 + max(n for n, (s, _) in enumerate(copies) if s == span)
        for span, variant in last.items()
        if variant == "usable"
    )
