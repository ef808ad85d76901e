"""The figures for one group of calls, and the weighted quantiles behind its latencies.

Every quantile is the smallest value whose cumulative sample weight reaches the
quantile's share of the total (with equal weights, the nearest rank). When every
weight is a whole number, sums are exact in any order, so the same answers are found
by bisection over sorted runs of values instead of a walk over sorted pairs.
"""

from __future__ import annotations

import array
import bisect
import collections
import itertools
import math
import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeAlias, overload

__all__ = [
    "EXACT_SUM",
    "NO_QUANTILES",
    "QUANTILES",
    "Classes",
    "Columns",
    "GroupStats",
    "Run",
    "add_up",
    "all_quantiles",
    "counted_quantiles",
    "group_stats",
    "signed_zeros",
    "tally",
    "weighted_quantile",
    "weighted_quantiles",
    "whole",
]


class Columns(Sequence[tuple[float, float]]):
    """Observations held as two columns, values and weights, read as ``(value, weight)``
    pairs; no pair is made until one is asked for.

    ``ordered`` says the values are sorted, equal values in the order they were read
    (what a stable sort of the pairs by value gives).

    ``tally``, when given, is how many observations have each weight, as
    `tally` counts them: the reader gives it for weights that are all floats, which it
    counts once for every metric of a group.
    """

    __slots__ = ("ordered", "tally", "values", "weights")

    def __init__(
        self,
        values: list[float],
        weights: list[float],
        *,
        ordered: bool,
        tally: dict[float, int] | None = None,
    ) -> None:
        if len(values) != len(weights):
            raise ValueError(f"{len(values)} values beside {len(weights)} weights")
        self.values = values
        self.weights = weights
        self.ordered = ordered
        self.tally = tally

    def __len__(self) -> int:
        return len(self.values)

    @overload
    def __getitem__(self, index: int) -> tuple[float, float]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[float, float]]: ...

    def __getitem__(self, index: int | slice) -> tuple[float, float] | list[tuple[float, float]]:
        if isinstance(index, slice):
            return list(zip(self.values[index], self.weights[index], strict=True))
        return (self.values[index], self.weights[index])

    def __iter__(self) -> Iterator[tuple[float, float]]:
        return zip(self.values, self.weights, strict=True)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Columns):
            return self.values == other.values and self.weights == other.weights
        if isinstance(other, Sequence):
            return len(other) == len(self) and all(map(operator.eq, self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Columns({self.values!r}, {self.weights!r}, ordered={self.ordered})"


def tally(weights: list[float]) -> dict[float, int]:
    """``dict(collections.Counter(weights))``: the same counts, keyed by the first of
    the equal weights met, in that order. Each of the first few distinct weights is
    counted by a pass in C (a float's hash costs more than a comparison), the weights
    left after them by a `collections.Counter`."""
    counts: dict[float, int] = {}
    left: Sequence[float] = weights
    for _ in range(_COUNTED_APART):
        if not left or left[0] != left[0]:
            break
        first = left[0]
        counts[first] = left.count(first)
        if counts[first] == len(left):
            return counts
        # The first weight not equal to this one is the next distinct one met.
        left = list(itertools.compress(left, map(operator.ne, left, itertools.repeat(first))))
    counts.update(collections.Counter(left))
    return counts


# How many distinct weights `tally` counts one by one (SQLiteSink writes one or two).
_COUNTED_APART = 3


@dataclass(frozen=True, slots=True)
class GroupStats:
    """What `Dataset.stats` computes for one group of calls.

    Counts, tokens and cost are sums of sample weights (estimates of everything that
    ran); rates are weighted means. Latency quantiles are in milliseconds.
    """

    key: tuple[str, ...]
    calls: float
    records: int
    error_rate: float
    schema_failure_rate: float
    mean_retries: float | None
    limit_hits: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    input_tokens: float
    output_tokens: float
    cost_usd: float
    feedback_mean: float | None
    feedback_count: int
    repaired: float = 0.0
    """Attempts whose answer json-repair made valid, weighted like calls."""

    def as_dict(self) -> dict[str, object]:
        """The figures as JSON-ready data."""
        return {
            "key": list(self.key),
            "calls": self.calls,
            "records": self.records,
            "error_rate": self.error_rate,
            "schema_failure_rate": self.schema_failure_rate,
            "mean_retries": self.mean_retries,
            "limit_hits": self.limit_hits,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "feedback_mean": self.feedback_mean,
            "feedback_count": self.feedback_count,
            "repaired": self.repaired,
        }


def weighted_quantile(ordered: Sequence[tuple[float, float]], q: float) -> float | None:
    """The smallest value whose cumulative weight reaches ``q`` of the total.

    With equal weights this is the nearest-rank quantile.

    Args:
        ordered: ``(value, weight)`` pairs sorted by value.
        q: The quantile, in [0, 1].
    """
    return weighted_quantiles(ordered, (q,))[0]


def weighted_quantiles(
    ordered: Sequence[tuple[float, float]], qs: Sequence[float]
) -> tuple[float | None, ...]:
    """`weighted_quantile` for several quantiles, adding the weights up once."""
    weight = operator.itemgetter(1)
    cumulative: Sequence[float]
    if set(map(type, map(weight, ordered))) <= {float}:
        # The same sums in 8 bytes each instead of a float object each (a million calls:
        # 9 MB instead of 32).
        cumulative = array.array("d", itertools.accumulate(map(weight, ordered)))
    else:
        cumulative = list(itertools.accumulate(map(weight, ordered)))
    if not cumulative or cumulative[-1] <= 0:
        return tuple(None for _ in qs)
    total, last = cumulative[-1], len(ordered) - 1
    # A relative tolerance, so that q * total computed another way still lands on its rank.
    return tuple(
        ordered[min(bisect.bisect_left(cumulative, q * total * (1 - 1e-12)), last)][0] for q in qs
    )


def add_up(values: tuple[float | None, ...]) -> float | None:
    """The sum of the values present; ``None`` when there is none."""
    present = [v for v in values if v is not None]
    return math.fsum(present) if present else None


QUANTILES = (0.50, 0.95, 0.99)
"""The latency quantiles `GroupStats` reports."""
NO_QUANTILES: tuple[float | None, ...] = (None, None, None)

Run: TypeAlias = tuple[float, list[float]]
"""A weight and values (sorted) of that weight."""
Classes: TypeAlias = dict[float, list[float]]
"""One group's values by sample weight: weight -> its values, sorted."""

# Past this many runs, `counted_quantiles` merges them by weight first.
_MANY_RUNS = 16
# Whole numbers up to 2**53 add up exactly in a double, in any order.
EXACT_SUM = float(2**53)


def whole(weight: object) -> bool:
    """Whether ``weight`` is a whole number from 0 up, which sums add exactly."""
    return (
        isinstance(weight, (int, float))
        and not isinstance(weight, bool)
        and weight >= 0
        and float(weight).is_integer()
    )


def counted_quantiles(
    runs: Iterable[tuple[float, list[float]]], qs: Sequence[float] = QUANTILES
) -> tuple[float | None, ...]:
    """`weighted_quantiles` of the values in ``runs``, the same answers without a walk.

    ``runs`` are (weight, sorted values) pairs; a weight may come in several runs. The
    weights must be whole numbers from 0 up whose total a double holds exactly (see
    `Dataset._counted_latencies`): then every running sum `weighted_quantiles` makes is
    exact whatever the order, and its answer is the least value whose weight at or below
    it reaches the target. Each run's least such value is found by bisection, counting
    the weight at or below a value with one bisection per run: O(r² log² n) per quantile
    for r runs.
    """
    present = [(weight, values) for weight, values in runs if values]
    if len(present) > _MANY_RUNS:
        # Fewer, longer runs: one per weight (sorting sorted runs merges them).
        merged: dict[float, list[float]] = {}
        for weight, values in present:
            merged.setdefault(weight, []).extend(values)
        for values in merged.values():
            values.sort()
        present = list(merged.items())
    total = sum(weight * len(values) for weight, values in present)
    if total <= 0:
        return tuple(None for _ in qs)
    answers: list[float | None] = []
    for q in qs:
        # The same target, computed the same way, as weighted_quantiles.
        target = q * total * (1 - 1e-12)
        best: float | None = None
        for _, values in present:
            low, high = 0, len(values)
            while low < high:
                middle = (low + high) // 2
                at = values[middle]
                reached = sum(w * bisect.bisect_right(v, at) for w, v in present)
                if reached >= target:
                    high = middle
                else:
                    low = middle + 1
            if low < len(values) and (best is None or values[low] < best):
                best = values[low]
        if best is None:
            # Past every value (not for q <= 1): weighted_quantiles gives the largest.
            best = max(values[-1] for _, values in present)
        answers.append(best)
    return tuple(answers)


def signed_zeros(runs: Iterable[tuple[float, list[float]]]) -> bool:
    """Whether both 0.0 and -0.0 are among the runs' (sorted) values.

    They are equal, so which one `weighted_quantiles` meets first depends on the order
    the rows came in, which the runs do not keep.
    """
    signs: set[float] = set()
    for _, values in runs:
        low, high = bisect.bisect_left(values, 0.0), bisect.bisect_right(values, 0.0)
        signs.update(math.copysign(1.0, value) for value in values[low:high])
    return len(signs) > 1


def all_quantiles(
    groups: dict[tuple[str, ...], list[tuple[float, float]]],
) -> tuple[float | None, ...]:
    """`weighted_quantiles` of every group's pairs together, in the groups' order."""
    everything = [pair for pairs in groups.values() for pair in pairs]
    everything.sort(key=operator.itemgetter(0))
    return weighted_quantiles(everything, QUANTILES)


def group_stats(
    key: tuple[str, ...],
    sums: tuple[float | None, ...],
    latencies: list[tuple[float, float]],
    scores: list[float],
    repaired: float = 0.0,
    *,
    quantiles: tuple[float | None, ...] | None = None,
) -> GroupStats:
    """One group's figures from its SQL sums, its (latency, weight) pairs and its scores.

    ``quantiles``, when given, are the group's p50, p95 and p99 already found, and
    ``latencies`` is not read.
    """
    # SQL's sum() is NULL over no rows; every column but the retries' has one per call.
    calls, records, errors, schema, retried, retry_weight, limits, tin, tout, cost = (
        0.0 if value is None else float(value) for value in sums
    )
    p50, p95, p99 = weighted_quantiles(latencies, QUANTILES) if quantiles is None else quantiles
    return GroupStats(
        key=key,
        calls=calls,
        records=int(records),
        error_rate=errors / calls if calls else 0.0,
        schema_failure_rate=schema / calls if calls else 0.0,
        mean_retries=retried / retry_weight if retry_weight else None,
        limit_hits=limits,
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        input_tokens=tin,
        output_tokens=tout,
        cost_usd=cost,
        feedback_mean=math.fsum(scores) / len(scores) if scores else None,
        feedback_count=len(scores),
        repaired=repaired,
    )
