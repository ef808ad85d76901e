"""The latency quantiles found from per-weight sorted runs match the pairwise walk.

`Dataset.summaries` finds p50/p95/p99 by bisection over sorted lists of latencies kept
per sample weight when every weight is a whole number, and falls back to sorting
(value, weight) pairs otherwise. Both must give what `weighted_quantiles` gives.
"""

from __future__ import annotations

import operator
import random
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from llmguard._core.records import Record
from llmguard.cli._dataset import Dataset, Window, _counted
from llmguard.cli._quantiles import counted_quantiles, weighted_quantiles
from llmguard.sinks import JSONLSink, SQLiteSink

_QS = (0.0, 0.01, 0.5, 0.95, 0.99, 1.0)

_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=True, width=64),
    # Few distinct values, so that ties (within and across weights) are common.
    st.sampled_from([-1.5, 0.0, 1.0, 2.0, 2.5, 1e300]),
)
_pairs = st.lists(st.tuples(_values, st.integers(0, 12).map(float)), max_size=80)


def _reference(pairs: list[tuple[float, float]]) -> tuple[float | None, ...]:
    return weighted_quantiles(sorted(pairs, key=operator.itemgetter(0)), _QS)


def _runs(pairs: list[tuple[float, float]], cuts: int) -> list[tuple[float, list[float]]]:
    """The pairs as (weight, sorted values) runs, each weight cut into up to ``cuts`` runs."""
    by_weight: dict[float, list[float]] = {}
    for value, weight in pairs:
        by_weight.setdefault(weight, []).append(value)
    runs = []
    for weight, values in by_weight.items():
        size = max(1, -(-len(values) // cuts))
        for start in range(0, len(values), size):
            runs.append((weight, sorted(values[start : start + size])))
    return runs


# The hard cases first: equal values under several weights and in several runs (zero
# weights among them); more runs than are bisected unmerged, each of one value, with
# the weights spread alike over the values and with the heavy weight on the larger; only
# zero weights; infinities beside 1e300; nothing at all.
@example(
    [(1.0, 1.0), (1.0, 4.0), (2.0, 1.0), (2.0, 0.0), (1.0, 12.0), (2.5, 4.0), (-1.5, 0.0)] * 3,
    2,
)
@example([(float((7 * i) % 5), float(1 + i % 2)) for i in range(40)], 30)
@example([(float(i % 5), 12.0 if i % 5 >= 3 else 1.0) for i in range(40)], 30)
@example([(1.0, 0.0), (2.0, 0.0)], 1)
@example([(float("inf"), 3.0), (float("-inf"), 1.0), (1e300, 12.0), (0.0, 1.0)], 3)
@example([], 1)
@settings(max_examples=100, deadline=None)
@given(_pairs, st.integers(1, 30))
def test_counted_quantiles_equal_the_pairwise_walk(
    pairs: list[tuple[float, float]], cuts: int
) -> None:
    """Whole-number weights in any number of runs: the same value for every quantile."""
    pairs = [(0.0 if value == 0 else value, weight) for value, weight in pairs]
    assert counted_quantiles(_runs(pairs, cuts), _QS) == _reference(pairs)


def test_counted_quantiles_without_weight_are_none() -> None:
    """No run, empty runs, or only zero weights: no quantile, as the walk says."""
    assert counted_quantiles([], _QS) == (None,) * len(_QS)
    assert counted_quantiles([(1.0, [])], _QS) == (None,) * len(_QS)
    assert counted_quantiles([(0.0, [1.0, 2.0])], _QS) == _reference([(1.0, 0.0), (2.0, 0.0)])


def test_many_runs_are_merged_by_weight() -> None:
    """Hundreds of runs (stats by hour over a month): merged first, same answers."""
    rng = random.Random(3)
    pairs = [(rng.lognormvariate(6, 1), float(rng.choice((1, 1, 1, 4)))) for _ in range(5000)]
    assert counted_quantiles(_runs(pairs, 300), _QS) == _reference(pairs)


def _store(path: Path, weights: list[float], durations: list[float]) -> Path:
    records = [
        Record(
            trace_id=f"{index:032x}",
            span_id=f"{index:016x}",
            name=("alpha", "beta", "gamma")[index % 3],
            kind="llm" if index % 5 else "tool",
            start=f"2026-01-{1 + index % 4:02d}T{index % 24:02d}:00:00.000000Z",
            end=f"2026-01-{1 + index % 4:02d}T{index % 24:02d}:00:01.000000Z",
            duration_ms=duration,
            model=("m1", "m2")[index % 2],
            sample_weight=weights[index % len(weights)],
        )
        for index, duration in enumerate(durations)
    ]
    sink = SQLiteSink(path) if path.suffix == ".db" else JSONLSink(path)
    sink.emit(records)
    sink.close()
    return path


def _expected(
    dataset: Dataset, by: tuple[str, ...], window: Window
) -> tuple[dict[tuple[str, ...], tuple[float | None, ...]], tuple[float | None, ...]]:
    """Per group and overall, the quantiles the pairwise walk gives on `Dataset.values`."""
    found = dataset.values("duration_ms", by, window)
    everything = sorted(
        (pair for pairs in found.values() for pair in pairs), key=operator.itemgetter(0)
    )
    per_group = {key: weighted_quantiles(pairs, (0.5, 0.95, 0.99)) for key, pairs in found.items()}
    return per_group, weighted_quantiles(everything, (0.5, 0.95, 0.99))


@pytest.mark.parametrize("suffix", [".db", ".jsonl"])
@pytest.mark.parametrize(
    "weights",
    [[1.0], [1.0, 1.0, 4.0], [1.0, 10.0, 0.0], [1.0, 10 / 3], [0.25, 1.0]],
    ids=["one", "whole", "with-zero", "thirds", "quarter"],
)
def test_summaries_match_the_pairwise_walk(
    tmp_path: Path, suffix: str, weights: list[float]
) -> None:
    """Every grouping's and the total's p50/p95/p99, whole weights or not (the fallback)."""
    rng = random.Random(11)
    durations = [round(rng.lognormvariate(5, 1), rng.choice((0, 3, 9))) for _ in range(900)]
    path = _store(tmp_path / f"calls{suffix}", weights, durations)
    groupings = (("name",), ("model",), ("day", "name"), ("hour",), ("status",))
    with Dataset.open(path) as dataset:
        for window in (Window(), Window.parse("2026-01-02", "2026-01-04")):
            summaries = dataset.summaries(groupings, window)
            for by, together in zip(groupings, summaries, strict=True):
                per_group, overall = _expected(dataset, by, window)
                # Several groupings read the latencies apart; one alone, with its sums.
                for groups, total in (together, dataset.summary(by, window)):
                    assert {g.key: (g.p50_ms, g.p95_ms, g.p99_ms) for g in groups} == per_group
                    assert total is not None
                    assert (total.p50_ms, total.p95_ms, total.p99_ms) == overall


def test_signed_zeros_keep_the_order_the_rows_came_in(tmp_path: Path) -> None:
    """0.0 and -0.0 tie: the answer is the one the walk meets first, as before."""
    path = _store(tmp_path / "zeros.db", [1.0], [-0.0, 0.0, 0.0, -0.0, 5.0] * 20)
    with Dataset.open(path) as dataset:
        groups, total = dataset.summary(("name",))
        per_group, overall = _expected(dataset, ("name",), Window())
        assert total is not None
        assert {g.key: (g.p50_ms, g.p95_ms, g.p99_ms) for g in groups} == per_group
        assert [str(v) for v in (total.p50_ms, total.p95_ms)] == [str(v) for v in overall[:2]]


def test_repaired_total_is_shared_and_stays_an_integer_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Several groupings read the window's repaired total once; with no repair the total
    is the integer 0 that ``stats --json`` has always printed."""
    from llmguard.cli import main

    path = _store(tmp_path / "calls.db", [1.0], [10.0, 20.0, 30.0])
    with Dataset.open(path) as dataset:
        summaries = dataset.summaries((("name",), ("day", "name")))
        assert [total.repaired for _, total in summaries if total is not None] == [0, 0]
        assert all(type(total.repaired) is int for _, total in summaries if total is not None)
    assert main(["stats", str(path), "--json"]) == 0
    assert '"repaired": 0\n' in capsys.readouterr().out


def test_a_latency_that_is_no_number_takes_the_pair_walk(tmp_path: Path) -> None:
    """Text among the latencies (a store not written by llmguard): the counted path steps
    aside; a store opened for the commands leaves those calls out (their figures are
    impossible), so the others' figures come out as from a store without them."""
    import sqlite3

    assert _counted([{("beta",): {1.0: [1.0, "slow"]}}]) is None
    path = _store(tmp_path / "odd.db", [1.0], [float(n) for n in range(30)])
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE records SET duration_ms = 'slow' WHERE name = 'beta'")
    with Dataset.open(path) as dataset:
        groups, _ = dataset.summary(("name",))
        # Counted by the queries that met them.
        assert dataset.impossible == 10
        per_group, _ = _expected(dataset, ("name",), Window())
        assert {g.key: (g.p50_ms, g.p95_ms, g.p99_ms) for g in groups} == per_group
        assert ("beta",) not in per_group
