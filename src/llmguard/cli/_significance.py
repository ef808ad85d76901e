"""Small two-sample tests for ``llmguard drift``: did a rate or a distribution move?

Pure functions over ``(value, weight)`` pairs, the shape `Dataset.values` returns; no
SciPy, whose import alone costs more than a drift run. P-values are two-sided and come
from the normal approximation, which is what the sample sizes worth alarming on allow.

Sample weights (a record kept with probability 1/w stands for w calls) count twice.
Estimates (rates, the chance that one side is larger) use them as they are. The
uncertainty of a test accounts for them too, so that a sampled store is neither more
nor less certain than the records it holds: rates use the linearized variance of a
weighted mean (see `compare_rates`), distributions Kish's effective size
``(Σw)² / Σw²``. When every record of a side weighs the same, the tests are the
textbook ones.
"""

from __future__ import annotations

import bisect
import collections
import functools
import itertools
import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeAlias, cast

from llmguard.cli._quantiles import Columns, counted_quantiles, tally

__all__ = [
    "Comparison",
    "Counts",
    "Ordered",
    "Sample",
    "benjamini_hochberg",
    "cohen_h",
    "compare_rates",
    "compare_rates_of",
    "effective_size",
    "mann_whitney",
    "mann_whitney_of",
    "quantile_test",
    "quantile_test_of",
    "two_proportions",
    "two_sided_p",
]

Sample: TypeAlias = Sequence[tuple[float, float]]
"""Observations as ``(value, weight)`` pairs, in any order; values must not be NaN."""


@dataclass(frozen=True, slots=True)
class Comparison:
    """The outcome of comparing a baseline sample with a current one.

    Attributes:
        statistic: The z score; positive when the current side is higher.
        p_value: Two-sided p-value of "both sides come from one distribution".
        effect: Effect size, signed like ``statistic``: Cohen's h for rates, Cliff's
            delta for distributions.
    """

    statistic: float
    p_value: float
    effect: float


class Ordered:
    """A sample read once for the several tests and figures asked of it.

    Its values sorted (equal values in the order the sample gives them) with their
    weights beside them, and, when every weight is a whole number, its values per
    weight; each made on first use and kept. The sample itself is `sample`.
    """

    __slots__ = ("_columns", "_counts", "_runs", "_weights", "sample")

    def __init__(self, sample: Sample) -> None:
        self.sample = sample
        self._columns: tuple[list[float], list[float]] | None = None
        self._runs: tuple[list[tuple[float, list[float]]] | None] | None = None
        self._counts: tuple[Counts | None] | None = None
        self._weights: tuple[dict[float, int] | None] | None = None

    def columns(self) -> tuple[list[float], list[float]]:
        """The values, sorted, and their weights in the same order (a stable sort)."""
        if self._columns is None:
            sample = self.sample
            if isinstance(sample, Columns):
                if sample.ordered:
                    # Sorted as read (`Dataset.columns_by`): the columns as they are.
                    self._columns = (sample.values, sample.weights)
                    return self._columns
                values, weights = sample.values, sample.weights
            else:
                values = list(map(_VALUE, sample))
                weights = list(map(_WEIGHT, sample))
            if not all(map(operator.le, values, itertools.islice(values, 1, None))):
                order = sorted(range(len(values)), key=values.__getitem__)
                values = list(map(values.__getitem__, order))
                weights = list(map(weights.__getitem__, order))
            self._columns = (values, weights)
        return self._columns

    def runs(self) -> list[tuple[float, list[float]]] | None:
        """``(weight, sorted values of that weight)`` per distinct weight, or ``None``
        unless every weight is a whole number above 0 (a float or an int, not a bool) and
        their total is below 2^53, where every sum of weights is exact in any order."""
        if self._runs is None:
            self._runs = (self._whole_runs(),)
        return self._runs[0]

    def counts(self) -> Counts | None:
        """How many observations have each (truth of the value, weight), or ``None``
        when a weight is not a finite float or int."""
        if self._counts is None:
            self._counts = (self._whole_counts() or _true_counts(self.sample),)
        return self._counts[0]

    def _whole_counts(self) -> Counts | None:
        """`counts` of columns read with their weights' tally, when every weight is
        whole: per weight, how many of its values are true (``bool`` of each, as the
        pairs' counts take it). ``None`` otherwise."""
        sample = self.sample
        if not isinstance(sample, Columns) or sample.tally is None:
            return None
        counts = _whole_weights(sample.tally)
        if not counts:
            return None
        # The weights of the true values: few, for failures and limit hits.
        hit_weights = list(itertools.compress(sample.weights, sample.values))
        found: Counts = {}
        for weight, count in counts.items():
            hits = hit_weights.count(weight)
            for hit, number in ((True, hits), (False, count - hits)):
                if number:
                    found[(hit, weight)] = number
        return found

    def rate(self) -> float | None:
        """The weighted share of true (non-zero) values; ``None`` without weight."""
        counts = self.counts()
        if counts is None:
            total, hits = _totals(self.sample)
        else:
            total, hits = _counted_totals(counts)
        return hits / total if total > 0 else None

    def mean(self) -> float | None:
        """The weighted mean of the values; ``None`` without weight."""
        values, weights = self.columns()
        total = _weight_total(weights, self.weights())
        return math.fsum(map(operator.mul, values, weights)) / total if total > 0 else None

    def weights(self) -> dict[float, int] | None:
        """How many observations have each weight, or ``None`` unless every weight is a
        whole number above 0 (a float or an int, not a bool) and their total is below
        2^53, where every sum of weights is exact in any order."""
        if self._weights is None:
            sample = self.sample
            if isinstance(sample, Columns) and sample.tally is not None:
                self._weights = (_whole_weights(sample.tally),)
            else:
                self._weights = (_whole_weights(tally(self.columns()[1])),)
        return self._weights[0]

    def _whole_runs(self) -> list[tuple[float, list[float]]] | None:
        counts = self.weights()
        if counts is None:
            return None
        values, weights = self.columns()
        if len(counts) == 1:
            return [(next(iter(counts)), values)]
        return [
            (
                weight,
                list(
                    itertools.compress(values, map(operator.eq, weights, itertools.repeat(weight)))
                ),
            )
            for weight in sorted(counts)
        ]


# Whole numbers up to 2^53 add up exactly in a double, in any order.
_EXACT_SUM = float(2**53)


# Below this, a whole weight's square is exact in a double.
_EXACT_SQUARE = float(2**26)


def _weight_total(weights: list[float], counts: dict[float, int] | None) -> float:
    """``fsum(weights)``; from the counts of whole weights (`Ordered.weights`), whose
    sum is exact, when there are counts."""
    if counts is None:
        return math.fsum(weights)
    return float(sum(int(weight) * count for weight, count in counts.items()))


def _square_total(weights: list[float], counts: dict[float, int] | None) -> float:
    """``fsum(w * w for w in weights)``; from the counts of whole weights when each
    square is exact: fsum rounds the exact sum once, as converting the exact integer
    sum to a float does."""
    if counts is None or max(counts, default=0.0) >= _EXACT_SQUARE:
        return math.fsum(map(operator.mul, weights, weights))
    return float(sum(int(weight) ** 2 * count for weight, count in counts.items()))


def _whole_weights(counts: dict[float, int]) -> dict[float, int] | None:
    """``counts`` (of each weight, as `tally` gives them), or ``None`` unless each
    weight is a whole number above 0 (a float or an int, not a bool) and their total is
    below 2^53."""
    if all(map(_whole, counts)) and sum(w * count for w, count in counts.items()) < _EXACT_SUM:
        return counts
    return None


def _true_counts(sample: Sample) -> Counts | None:
    counts: Counts = {}
    for (value, weight), count in collections.Counter(sample).items():
        if type(weight) not in (float, int) or not math.isfinite(weight):
            return None
        key = (bool(value), weight)
        counts[key] = counts.get(key, 0) + count
    return counts


def _whole(weight: object) -> bool:
    return (
        type(weight) in (float, int)
        and 0 < cast(float, weight) < _EXACT_SUM
        and float(cast(float, weight)).is_integer()
    )


def two_sided_p(z: float) -> float:
    """The two-sided p-value of a standard normal score.

    ``erfc`` rather than ``NormalDist().cdf``: the latter computes ``1 + erf(x)``, which
    loses every digit past about eight standard deviations and returns 0.
    """
    return math.erfc(abs(z) / math.sqrt(2))


def cohen_h(rate_a: float, rate_b: float) -> float:
    """Cohen's h from rate ``a`` to rate ``b``: the difference of their arcsine roots.

    Unlike the plain difference it weighs a move from 1 % to 5 % more than one from
    50 % to 54 %; 0.2 is conventionally a small effect, 0.5 a medium one.
    """
    return 2 * (_arcsine_root(rate_b) - _arcsine_root(rate_a))


def _arcsine_root(rate: float) -> float:
    # Clamped: a rate summed from floating-point weights can overshoot 1 by an ulp.
    return math.asin(math.sqrt(min(max(rate, 0.0), 1.0)))


def two_proportions(
    successes_a: float, n_a: float, successes_b: float, n_b: float
) -> Comparison | None:
    """Pooled two-proportion z-test: the 2x2 chi-square test without Yates' correction.

    Args:
        successes_a: Successes in the baseline.
        n_a: Size of the baseline.
        successes_b: Successes in the current sample.
        n_b: Size of the current sample.

    Returns:
        The comparison, or ``None`` when there is nothing to test: a side is empty, or
        every observation on both sides succeeded (or every one failed).

    Raises:
        ValueError: A count is negative or exceeds its size.
    """
    for successes, size in ((successes_a, n_a), (successes_b, n_b)):
        if not 0 <= successes <= size:
            raise ValueError(f"{successes} successes out of {size}")
    if n_a <= 0 or n_b <= 0:
        return None
    rate_a, rate_b = successes_a / n_a, successes_b / n_b
    pooled = (successes_a + successes_b) / (n_a + n_b)
    variance = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    if variance <= 0:
        return None
    z = (rate_b - rate_a) / math.sqrt(variance)
    return Comparison(z, two_sided_p(z), cohen_h(rate_a, rate_b))


def effective_size(sample: Sample) -> float:
    """Kish's effective sample size, ``(Σw)² / Σw²``; the count when weights are equal."""
    total = math.fsum(w for _, w in sample)
    squares = math.fsum(w * w for _, w in sample)
    return total * total / squares if squares > 0 else 0.0


def compare_rates_of(baseline: Ordered, current: Ordered) -> Comparison | None:
    """`compare_rates` of samples already read: from their counts (`Ordered.counts`)."""
    counts_a, counts_b = baseline.counts(), current.counts()
    if counts_a is None or counts_b is None:
        return compare_rates(baseline.sample, current.sample)
    return _counted_rates(counts_a, counts_b)


def compare_rates(baseline: Sample, current: Sample) -> Comparison | None:
    """Two-proportion z-test of how often the value is true (non-zero) on each side.

    When every record of a side weighs the same, this is `two_proportions` on the
    counts. Otherwise each side's rate is weighted, and the variance of the difference
    is the linearized variance of the two weighted rates around the pooled rate
    (``Σw²(x - p)² / (Σw)²`` per side, weights held fixed). Unlike a test on Kish's
    effective size, it sees that llmguard keeps every failure and samples only
    successes, which leaves a sampled failure rate almost as certain as a complete one.

    Returns:
        The comparison, or ``None`` when a side is empty or no value differs.
    """
    if _equal_weights(baseline) and _equal_weights(current):
        return two_proportions(
            sum(map(bool, map(_VALUE, baseline))),
            len(baseline),
            sum(map(bool, map(_VALUE, current))),
            len(current),
        )
    total_a, hits_a = _totals(baseline)
    total_b, hits_b = _totals(current)
    if total_a <= 0 or total_b <= 0:
        return None
    rate_a, rate_b = hits_a / total_a, hits_b / total_b
    pooled = (hits_a + hits_b) / (total_a + total_b)
    variance = _spread(baseline, pooled) / total_a**2 + _spread(current, pooled) / total_b**2
    if variance <= 0:
        return None
    z = (rate_b - rate_a) / math.sqrt(variance)
    return Comparison(z, two_sided_p(z), cohen_h(rate_a, rate_b))


# The values and weights of a sample, read in C rather than by a generator: the same
# numbers in the same order, several times faster over a million pairs.
_VALUE = operator.itemgetter(0)
_WEIGHT = operator.itemgetter(1)


def _equal_weights(sample: Sample) -> bool:
    if not sample:
        return True
    return all(map(operator.eq, map(_WEIGHT, sample), itertools.repeat(sample[0][1])))


def _totals(sample: Sample) -> tuple[float, float]:
    hits = itertools.compress(map(_WEIGHT, sample), map(_VALUE, sample))
    return math.fsum(map(_WEIGHT, sample)), math.fsum(hits)


def _spread(sample: Sample, rate: float) -> float:
    """``Σ w² (x - rate)²`` over the sample, x being 1 where the value is true, else 0.

    Each term is ``(w * w) * d`` with ``d`` one of two squares, so the terms are made in
    C, hits and misses apart; fsum's correctly rounded total does not depend on their
    order.
    """
    squares = list(map(operator.mul, map(_WEIGHT, sample), map(_WEIGHT, sample)))
    hits = list(map(bool, map(_VALUE, sample)))
    misses = map(operator.not_, hits)
    hit, miss = (1.0 - rate) ** 2, (0.0 - rate) ** 2
    return math.fsum(
        itertools.chain(
            map(operator.mul, itertools.compress(squares, hits), itertools.repeat(hit)),
            map(operator.mul, itertools.compress(squares, misses), itertools.repeat(miss)),
        )
    )


def mann_whitney(
    baseline: Sample, current: Sample, *, continuity: bool = True
) -> Comparison | None:
    """Mann-Whitney U test with tie correction, normal approximation.

    Equal to ``scipy.stats.mannwhitneyu(current, baseline, method="asymptotic",
    use_continuity=continuity)`` for unweighted samples. With weights, each side's
    weights are scaled to sum to its effective size before counting pairs, so U is a
    weighted count and the usual variance applies to the effective sizes. Sorting each
    side once makes it O(n log n).

    Args:
        baseline: The baseline sample.
        current: The current sample.
        continuity: Apply the half-unit continuity correction to U.

    Returns:
        The comparison, with Cliff's delta (P(current > baseline) minus
        P(current < baseline), weighted) as effect size; ``None`` when a side is
        empty or every value on both sides is the same.
    """
    return mann_whitney_of(Ordered(baseline), Ordered(current), continuity=continuity)


def mann_whitney_of(
    baseline: Ordered, current: Ordered, *, continuity: bool = True
) -> Comparison | None:
    """`mann_whitney` of samples already read, sharing their sorted values with other tests.

    The pooled sample is walked one tie group (distinct value) at a time, in increasing
    order, with each side's mass in a group added up from 0.0 in the order the side
    gives its equal values: the sums, and so every rounding, of sorting the pooled
    (value, weight) pairs and walking them, without making or sorting a pair.
    """
    values_a, raw_a = baseline.columns()
    values_b, raw_b = current.columns()
    weights_a, n_a = _scaled_weights(raw_a, baseline.weights())
    weights_b, n_b = _scaled_weights(raw_b, current.weights())
    if n_a <= 0 or n_b <= 0:
        return None
    masses_a, masses_b = _merged(
        *_group_masses(values_a, weights_a), *_group_masses(values_b, weights_b)
    )
    return _u_test(masses_a, masses_b, n_a, n_b, continuity=continuity)


def _merged(
    values_a: list[float], masses_a: list[float], values_b: list[float], masses_b: list[float]
) -> tuple[list[float], list[float]]:
    """Both sides' tie groups in increasing order of value: per group, the baseline's
    and the current side's mass, 0.0 where a side has none (the walk adds 0.0 for each
    of the other side's observations, which changes no sum).

    A stable sort of the distinct values (floats sort fast, and two sorted runs merge
    in one pass) puts a value both sides have at two neighbouring places, the
    baseline's first; they make one group, its baseline mass from the first place and
    its current mass from the second.
    """
    pooled = values_a + values_b
    order = sorted(range(len(pooled)), key=pooled.__getitem__)
    side_a = masses_a + [0.0] * len(values_b)
    side_b = [0.0] * len(values_a) + masses_b
    in_a = list(map(side_a.__getitem__, order))
    in_b = list(map(side_b.__getitem__, order))
    merged = list(map(pooled.__getitem__, order))
    changes = list(map(operator.ne, merged, itertools.islice(merged, 1, None)))
    if all(changes):
        return in_a, in_b
    starts = [0, *itertools.compress(range(1, len(merged)), changes)]
    lasts = [*map(operator.sub, itertools.islice(starts, 1, None), itertools.repeat(1))]
    lasts.append(len(merged) - 1)
    return list(map(in_a.__getitem__, starts)), list(map(in_b.__getitem__, lasts))


def _u_test(
    masses_a: list[float], masses_b: list[float], n_a: float, n_b: float, *, continuity: bool
) -> Comparison | None:
    """The U test from each tie group's masses, in increasing order of value."""
    # Baseline weight under each tie group: the running sum before it.
    below = list(itertools.accumulate(masses_a, operator.add, initial=0.0))
    # Pairs with the current value above the baseline one, ties counting half.
    u = _running_sum(
        map(
            operator.mul,
            masses_b,
            map(operator.add, below, map(operator.truediv, masses_a, itertools.repeat(2))),
        )
    )
    masses = list(map(operator.add, masses_a, masses_b))
    cubes = map(operator.mul, map(operator.mul, masses, masses), masses)
    ties = _running_sum(map(operator.sub, cubes, masses))
    groups = sum(map(operator.gt, masses, itertools.repeat(0)))  # tie groups with weight
    n = n_a + n_b
    variance = n_a * n_b / 12 * ((n + 1) - ties / (n * (n - 1)))
    if groups < 2 or variance <= 0:
        return None
    distance = u - n_a * n_b / 2
    if continuity:
        distance = math.copysign(max(abs(distance) - 0.5, 0.0), distance)
    z = distance / math.sqrt(variance)
    return Comparison(z, two_sided_p(z), 2 * u / (n_a * n_b) - 1)


def _group_masses(values: list[float], weights: list[float]) -> tuple[list[float], list[float]]:
    """Each distinct value, and its weight added up from 0.0 in the order given.

    ``values`` are sorted, so equal values are neighbours. Without ties each mass is
    ``0.0 + w``; with ties, one C-level sum per group (a count when every weight is 1).
    Nothing is hashed: hashing a float costs more than comparing it.
    """
    changes = list(map(operator.ne, values, itertools.islice(values, 1, None)))
    if all(changes):
        return values, list(map(operator.add, itertools.repeat(0.0), weights))
    starts = [0, *itertools.compress(range(1, len(values)), changes)]
    ends = [*itertools.islice(starts, 1, None), len(values)]
    distinct = list(map(values.__getitem__, starts))
    if all(map(operator.eq, weights, itertools.repeat(1.0))):
        # 0.0 + 1.0 + ... + 1.0 is the count, exactly.
        return distinct, list(map(float, map(operator.sub, ends, starts)))
    groups = map(weights.__getitem__, map(slice, starts, ends))
    sums = map(functools.reduce, itertools.repeat(operator.add), groups, itertools.repeat(0.0))
    return distinct, list(sums)


def _running_sum(terms: Iterable[float]) -> float:
    """``0.0 + t1 + t2 + ...`` left to right, each addition rounded, as a loop adds.

    Not `sum`, which adds floats with compensation from Python 3.12 on.
    """
    return functools.reduce(operator.add, terms, 0.0)


def _scaled(sample: Sample) -> tuple[list[tuple[float, float]], float]:
    """The sample with weights summing to its effective size, and that size."""
    total = math.fsum(map(_WEIGHT, sample))
    if total <= 0:
        return [], 0.0
    if _equal_weights(sample):
        # Exactly the unweighted test, without rounding from the rescaling.
        return list(zip(map(_VALUE, sample), itertools.repeat(1.0))), float(len(sample))
    squares = math.fsum(map(operator.mul, map(_WEIGHT, sample), map(_WEIGHT, sample)))
    factor = total / squares
    weights = map(operator.mul, map(_WEIGHT, sample), itertools.repeat(factor))
    return list(zip(map(_VALUE, sample), weights, strict=True)), total * factor


def _scaled_weights(
    weights: list[float], counts: dict[float, int] | None
) -> tuple[list[float], float]:
    """`_scaled` of a sample's weights alone: the same numbers, without the values.

    ``counts`` are `Ordered.weights`, when every weight is whole.
    """
    total = _weight_total(weights, counts)
    if total <= 0:
        return [], 0.0
    if counts is not None:
        equal = len(counts) == 1
    else:
        equal = all(map(operator.eq, weights, itertools.repeat(weights[0])))
    if equal:
        return [1.0] * len(weights), float(len(weights))
    factor = total / _square_total(weights, counts)
    return list(map(operator.mul, weights, itertools.repeat(factor))), total * factor


def quantile_test(baseline: Sample, current: Sample, q: float) -> Comparison | None:
    """Did the tail at quantile ``q`` move? Mood's median test, at another quantile.

    The threshold is the ``q`` quantile of both sides pooled (weighted, nearest rank);
    the test compares how often each side exceeds it. It sees a slower p95 that a
    test of the whole distribution dilutes when only a few calls got slower.

    Returns:
        `compare_rates` of the exceedances (Cohen's h as effect size), or ``None``
        when no value exceeds the threshold.
    """
    return quantile_test_of(Ordered(baseline), Ordered(current), q)


def quantile_test_of(baseline: Ordered, current: Ordered, q: float) -> Comparison | None:
    """`quantile_test` of samples already read.

    When every weight is a whole number, the threshold is found by bisection over each
    side's values per weight (`counted_quantiles`: exact sums, so the walk's answer),
    and each side's exceedances are counted per weight from where the threshold falls
    in its sorted values; `compare_rates` depends on nothing else.
    """
    runs_a, runs_b = baseline.runs(), current.runs()
    if runs_a is None or runs_b is None or _weight_of(runs_a) + _weight_of(runs_b) >= _EXACT_SUM:
        return _walked_quantile_test(baseline.sample, current.sample, q)
    (threshold,) = counted_quantiles([*runs_a, *runs_b], (q,))
    if threshold is None:
        return None
    return _counted_rates(_exceedances(runs_a, threshold), _exceedances(runs_b, threshold))


def _weight_of(runs: list[tuple[float, list[float]]]) -> float:
    return sum(weight * len(values) for weight, values in runs)


def _exceedances(runs: list[tuple[float, list[float]]], threshold: float) -> Counts:
    """How many values of each weight are above the threshold, and how many not."""
    counts: Counts = {}
    for weight, values in runs:
        at_or_below = bisect.bisect_right(values, threshold)
        for hit, count in ((True, len(values) - at_or_below), (False, at_or_below)):
            if count:
                counts[(hit, weight)] = count
    return counts


def _walked_quantile_test(baseline: Sample, current: Sample, q: float) -> Comparison | None:
    """`quantile_test` over sorted pairs and a running total, for any weights."""
    pooled = sorted(itertools.chain(baseline, current), key=operator.itemgetter(0))
    total = math.fsum(map(_WEIGHT, pooled))
    if total <= 0:
        return None
    cumulative = list(itertools.accumulate(map(_WEIGHT, pooled)))
    # Relative slack, so the rank of q * total is not lost to rounding.
    rank = bisect.bisect_left(cumulative, q * total * (1 - 1e-12))
    threshold = pooled[min(rank, len(pooled) - 1)][0]
    return compare_rates(_exceeding(baseline, threshold), _exceeding(current, threshold))


def _exceeding(sample: Sample, threshold: float) -> list[tuple[bool, float]]:
    """``(value > threshold, weight)`` per observation, made in C."""
    above = map(operator.gt, map(_VALUE, sample), itertools.repeat(threshold))
    return list(zip(above, map(_WEIGHT, sample), strict=True))


Counts: TypeAlias = dict[tuple[bool, float], int]
"""A sample of true/false values by (value, weight): how many observations have each."""


def _counted_rates(baseline: Counts, current: Counts) -> Comparison | None:
    """`compare_rates` of two samples given as counts, to the bit.

    `compare_rates` depends only on how many observations have each (value, weight):
    its counts are sums of such counts, and its weighted sums are `math.fsum`s, which
    round the exact sum once whatever the order of the terms. Here each exact sum is
    made from the counts with fractions and rounded once, by the correctly rounded
    integer division behind ``float(Fraction)``.
    """
    if _counted_equal_weights(baseline) and _counted_equal_weights(current):
        return two_proportions(
            sum(count for (hit, _), count in baseline.items() if hit),
            sum(baseline.values()),
            sum(count for (hit, _), count in current.items() if hit),
            sum(current.values()),
        )
    total_a, hits_a = _counted_totals(baseline)
    total_b, hits_b = _counted_totals(current)
    if total_a <= 0 or total_b <= 0:
        return None
    rate_a, rate_b = hits_a / total_a, hits_b / total_b
    pooled = (hits_a + hits_b) / (total_a + total_b)
    variance = (
        _counted_spread(baseline, pooled) / total_a**2
        + _counted_spread(current, pooled) / total_b**2
    )
    if variance <= 0:
        return None
    z = (rate_b - rate_a) / math.sqrt(variance)
    return Comparison(z, two_sided_p(z), cohen_h(rate_a, rate_b))


def _counted_equal_weights(counts: Counts) -> bool:
    weights = [weight for (_, weight), count in counts.items() if count]
    return all(map(operator.eq, weights, itertools.repeat(weights[0]))) if weights else True


def _counted_totals(counts: Counts) -> tuple[float, float]:
    total = sum(Fraction(weight) * count for (_, weight), count in counts.items())
    hits = sum(Fraction(weight) * count for (hit, weight), count in counts.items() if hit)
    return float(total), float(hits)


def _counted_spread(counts: Counts, rate: float) -> float:
    """`_spread` from counts: each term ``(w * w) * d`` made as the walk makes it."""
    hit, miss = (1.0 - rate) ** 2, (0.0 - rate) ** 2
    return float(
        sum(
            Fraction((weight * weight) * (hit if is_hit else miss)) * count
            for (is_hit, weight), count in counts.items()
        )
    )


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values, in the order given.

    Rejecting every test whose adjusted p-value is at most ``alpha`` keeps the expected
    share of false alarms among the alarms at ``alpha``; when nothing moved at all, the
    chance of any alarm is ``alpha``, whatever the number of tests.
    """
    count = len(p_values)
    order = sorted(range(count), key=p_values.__getitem__)
    adjusted = [1.0] * count
    running = 1.0
    for rank in range(count, 0, -1):
        index = order[rank - 1]
        running = min(running, p_values[index] * count / rank)
        adjusted[index] = running
    return adjusted
