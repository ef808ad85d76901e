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
import functools
import itertools
import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "Comparison",
    "Sample",
    "benjamini_hochberg",
    "cohen_h",
    "compare_rates",
    "effective_size",
    "mann_whitney",
    "quantile_test",
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
# The current side's weight in `mann_whitney`'s pooled (value, baseline, current) triples.
_CURRENT = operator.itemgetter(2)


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
    weighted count and the usual variance applies to the effective sizes. Sorting the
    pooled sample once makes it O(n log n).

    Args:
        baseline: The baseline sample.
        current: The current sample.
        continuity: Apply the half-unit continuity correction to U.

    Returns:
        The comparison, with Cliff's delta (P(current > baseline) minus
        P(current < baseline), weighted) as effect size; ``None`` when a side is
        empty or every value on both sides is the same.
    """
    scaled_a, n_a = _scaled(baseline)
    scaled_b, n_b = _scaled(current)
    if n_a <= 0 or n_b <= 0:
        return None
    # (value, baseline weight, current weight) triples, made in C.
    pooled = list(zip(map(_VALUE, scaled_a), map(_WEIGHT, scaled_a), itertools.repeat(0.0)))
    pooled.extend(zip(map(_VALUE, scaled_b), itertools.repeat(0.0), map(_WEIGHT, scaled_b)))
    pooled.sort(key=operator.itemgetter(0))
    # Per tie group (equal values), the baseline's and the current side's weight.
    masses_a, masses_b = _tie_masses(pooled)
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


def _running_sum(terms: Iterable[float]) -> float:
    """``0.0 + t1 + t2 + ...`` left to right, each addition rounded, as a loop adds.

    Not `sum`, which adds floats with compensation from Python 3.12 on.
    """
    return functools.reduce(operator.add, terms, 0.0)


def _tie_masses(pooled: list[tuple[float, float, float]]) -> tuple[list[float], list[float]]:
    """Each tie group's baseline and current weight, added up in order from 0.0.

    Without ties every group is one observation, and its masses are its weights (plus
    0.0, as the loop over a group would add them); the lists are then made in C.
    """
    values = list(map(_VALUE, pooled))
    if len(set(values)) == len(values):
        return (
            list(map(operator.add, itertools.repeat(0.0), map(_WEIGHT, pooled))),
            list(map(operator.add, itertools.repeat(0.0), map(_CURRENT, pooled))),
        )
    masses_a: list[float] = []
    masses_b: list[float] = []
    for _, tied in itertools.groupby(pooled, key=_VALUE):
        mass_a = mass_b = 0.0
        for _, w_a, w_b in tied:
            mass_a += w_a
            mass_b += w_b
        masses_a.append(mass_a)
        masses_b.append(mass_b)
    return masses_a, masses_b


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


def quantile_test(baseline: Sample, current: Sample, q: float) -> Comparison | None:
    """Did the tail at quantile ``q`` move? Mood's median test, at another quantile.

    The threshold is the ``q`` quantile of both sides pooled (weighted, nearest rank);
    the test compares how often each side exceeds it. It sees a slower p95 that a
    test of the whole distribution dilutes when only a few calls got slower.

    Returns:
        `compare_rates` of the exceedances (Cohen's h as effect size), or ``None``
        when no value exceeds the threshold.
    """
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
