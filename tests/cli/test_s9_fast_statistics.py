"""The drift statistics computed from samples read once (`Ordered`) give, to the bit,
what the earlier functions gave from (value, weight) pairs.

The references below are those functions as they were before the samples were read
once (`mann_whitney` over sorted (value, baseline, current) triples, `quantile_test`
over sorted pairs with a running total), kept here so that every fast path is checked
against them: with ties and without, equal, whole and fractional weights, 0.0 beside
-0.0, ints beside floats, and input in any order.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import operator
import random
from collections.abc import Callable, Iterable

from hypothesis import example, given, settings
from hypothesis import strategies as st

from llmguard.cli._drift import _METRICS, Check, _Summaries
from llmguard.cli._quantiles import weighted_quantiles
from llmguard.cli._significance import (
    Comparison,
    Ordered,
    Sample,
    compare_rates,
    compare_rates_of,
    mann_whitney,
    mann_whitney_of,
    quantile_test,
    quantile_test_of,
)

_VALUE = operator.itemgetter(0)
_WEIGHT = operator.itemgetter(1)


def _outcome(compute: Callable[[], object]) -> str:
    """What a computation gave, as text, or the error it raised (the earlier functions
    divide by a weight's square, which 1e-300 makes 0)."""
    try:
        return repr(compute())
    except ArithmeticError as exc:
        return type(exc).__name__


def _reference_sum(terms: Iterable[float]) -> float:
    return functools.reduce(operator.add, terms, 0.0)


def _reference_equal_weights(sample: Sample) -> bool:
    if not sample:
        return True
    return all(map(operator.eq, map(_WEIGHT, sample), itertools.repeat(sample[0][1])))


def _reference_scaled(sample: Sample) -> tuple[list[tuple[float, float]], float]:
    total = math.fsum(map(_WEIGHT, sample))
    if total <= 0:
        return [], 0.0
    if _reference_equal_weights(sample):
        return list(zip(map(_VALUE, sample), itertools.repeat(1.0))), float(len(sample))
    squares = math.fsum(map(operator.mul, map(_WEIGHT, sample), map(_WEIGHT, sample)))
    factor = total / squares
    weights = map(operator.mul, map(_WEIGHT, sample), itertools.repeat(factor))
    return list(zip(map(_VALUE, sample), weights, strict=True)), total * factor


def _reference_mann_whitney(
    baseline: Sample, current: Sample, *, continuity: bool = True
) -> Comparison | None:
    """`mann_whitney` as it was: the pooled triples sorted, masses per tie group."""
    scaled_a, n_a = _reference_scaled(baseline)
    scaled_b, n_b = _reference_scaled(current)
    if n_a <= 0 or n_b <= 0:
        return None
    pooled = [(v, w, 0.0) for v, w in scaled_a]
    pooled.extend((v, 0.0, w) for v, w in scaled_b)
    pooled.sort(key=_VALUE)
    masses_a: list[float] = []
    masses_b: list[float] = []
    for _, tied in itertools.groupby(pooled, key=_VALUE):
        mass_a = mass_b = 0.0
        for _, w_a, w_b in tied:
            mass_a += w_a
            mass_b += w_b
        masses_a.append(mass_a)
        masses_b.append(mass_b)
    below = list(itertools.accumulate(masses_a, operator.add, initial=0.0))
    u = _reference_sum(
        map(
            operator.mul,
            masses_b,
            map(operator.add, below, map(operator.truediv, masses_a, itertools.repeat(2))),
        )
    )
    masses = list(map(operator.add, masses_a, masses_b))
    ties = _reference_sum(m * m * m - m for m in masses)
    groups = sum(m > 0 for m in masses)
    n = n_a + n_b
    variance = n_a * n_b / 12 * ((n + 1) - ties / (n * (n - 1)))
    if groups < 2 or variance <= 0:
        return None
    distance = u - n_a * n_b / 2
    if continuity:
        distance = math.copysign(max(abs(distance) - 0.5, 0.0), distance)
    z = distance / math.sqrt(variance)
    return Comparison(z, math.erfc(abs(z) / math.sqrt(2)), 2 * u / (n_a * n_b) - 1)


def _reference_quantile_test(baseline: Sample, current: Sample, q: float) -> Comparison | None:
    """`quantile_test` as it was: a running total over the pooled pairs, sorted."""
    pooled = sorted(itertools.chain(baseline, current), key=_VALUE)
    total = math.fsum(map(_WEIGHT, pooled))
    if total <= 0:
        return None
    cumulative = list(itertools.accumulate(map(_WEIGHT, pooled)))
    rank = bisect.bisect_left(cumulative, q * total * (1 - 1e-12))
    threshold = pooled[min(rank, len(pooled) - 1)][0]
    return compare_rates(
        [(v > threshold, w) for v, w in baseline], [(v > threshold, w) for v, w in current]
    )


def _reference_rate(sample: Sample) -> float | None:
    total = math.fsum(w for _, w in sample)
    return math.fsum(w for v, w in sample if v) / total if total > 0 else None


def _reference_mean(sample: Sample) -> float | None:
    total = math.fsum(w for _, w in sample)
    return math.fsum(v * w for v, w in sample) / total if total > 0 else None


# Values with many ties (ints beside equal floats, 0.0 beside -0.0) or none.
_values = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, 2.0, 2.5, 3, 250.0, 1e15]),
    st.integers(-5, 5),
    st.floats(-1e6, 1e6, allow_nan=False),
)
# Whole weights (as sampling writes them) beside fractional and huge ones.
_weights = st.one_of(
    st.sampled_from([1.0, 4.0, 1.0, 10.0, 2]),
    st.sampled_from([0.3, 1 / 3, 0.5, 2.5e-3, 7e15]),
)
_samples = st.lists(st.tuples(_values, _weights), max_size=60)
_whole_samples = st.lists(st.tuples(_values, st.sampled_from([1.0, 4.0, 2.0, 5])), max_size=60)

# Each property runs fewer random examples than it did (500) and, before them, samples
# that hold the hard cases in every run: without them, some bugs were found by some
# seeds only. The seeds below were picked, out of a few dozen, as ones whose samples fail
# the property for each of these bugs, planted one at a time: a tie group's weights
# added in another order or compensated, U or the ties summed in another order or by
# fsum, a stable sort made unstable, a value both sides hold given one side's mass,
# fsum of the weights replaced by a running sum, counted totals or spreads rounded per
# (truth, weight) class, the threshold's rank found without its slack, exceedances
# counted from the left of a tie. Random draws of 60 pairs missed the first of these in
# one run of six at 500 examples, and the counted roundings in most.


def _hard(seed: int, size: int, weights: tuple[float, ...]) -> Sample:
    """Long tie groups (ints beside equal floats, 0.0 beside -0.0) of mixed weights, in
    the order a seeded draw gives them."""
    rng = random.Random(seed)
    values = (0.0, -0.0, 1, 1.0, 2.5, 3, 250.0)
    return [(rng.choice(values), rng.choice(weights)) for _ in range(size)]


def _hard_pair(seed: int, weights: tuple[float, ...]) -> tuple[Sample, Sample]:
    return _hard(seed, 60, weights), _hard(seed + 100, 45, weights)


_FRACTIONAL = (0.3, 1 / 3, 0.1, 0.7, 2.5e-3, 1.0, 4.0)
# Whole weights, some with squares past 2^53, beside ordinary ones.
_HUGE_WHOLE = (1.0, 4.0, 2, 2.0**27 + 1, 2.0**40 + 3)
# A weight past 2^52 that a small one beside it does not change.
_ABSORBED = [(0.0, 7e15)], [(0.0, 0.3), (1.0, 1.0)]


@settings(deadline=None, max_examples=50)
@given(_samples | _whole_samples, _samples | _whole_samples, st.booleans())
@example(*_hard_pair(14, _FRACTIONAL), True)
@example(*_hard_pair(22, _FRACTIONAL), True)
@example(*_hard_pair(13, _FRACTIONAL), False)
@example(*_hard_pair(3, _HUGE_WHOLE), False)
def test_mann_whitney_is_the_pooled_walk_to_the_bit(
    baseline: Sample, current: Sample, continuity: bool
) -> None:
    """Masses per distinct value give the walk's z, p-value and effect, every bit."""
    expected = _reference_mann_whitney(baseline, current, continuity=continuity)
    assert repr(mann_whitney(baseline, current, continuity=continuity)) == repr(expected)
    read = mann_whitney_of(Ordered(baseline), Ordered(current), continuity=continuity)
    assert repr(read) == repr(expected)


@settings(deadline=None, max_examples=150)
@given(
    _samples | _whole_samples,
    _samples | _whole_samples,
    st.sampled_from([0.0, 0.05, 0.5, 0.95, 0.99, 1.0]),
)
@example(*_hard_pair(21, (1.0, 4.0, 2.0)), 0.5)
@example(*_hard_pair(32, _HUGE_WHOLE), 0.5)
@example(*_hard_pair(14, _FRACTIONAL), 0.95)
@example(*_ABSORBED, 1.0)
def test_quantile_test_is_the_running_total_to_the_bit(
    baseline: Sample, current: Sample, q: float
) -> None:
    """Counted per weight or walked, the threshold and the rate test are the same."""
    expected = _reference_quantile_test(baseline, current, q)
    assert repr(quantile_test(baseline, current, q)) == repr(expected)
    assert repr(quantile_test_of(Ordered(baseline), Ordered(current), q)) == repr(expected)


def _hard_flags(seed: int, weights: tuple[float, ...]) -> Sample:
    """Flags with many observations of each (truth, weight)."""
    rng = random.Random(seed)
    return [(rng.choice((0, 1, 2, True, False, 0.0)), rng.choice(weights)) for _ in range(80)]


_flags = st.lists(
    st.tuples(
        st.sampled_from([0, 1, 2, True, False, 0.0]),
        st.sampled_from([1.0, 4.0, 4, 0.3, 1 / 3, 7e15, 1e-300]),
    ),
    max_size=80,
)


@settings(deadline=None, max_examples=150)
@given(_flags, _flags)
@example(_hard_flags(7, (0.1, 0.7, 0.3)), _hard_flags(107, (0.3, 1 / 3, 0.7, 4, 7e15)))
@example(_hard_flags(43, (0.3, 1 / 3, 1e-300, 1.0)), _hard_flags(143, (0.3, 1 / 3, 1e-300, 1.0)))
def test_rates_from_counts_are_the_pairs_test_to_the_bit(baseline: Sample, current: Sample) -> None:
    """Counting (truth, weight) classes gives `compare_rates` and the rate, every bit."""
    read_a, read_b = Ordered(baseline), Ordered(current)
    assert _outcome(lambda: compare_rates_of(read_a, read_b)) == _outcome(
        lambda: compare_rates(baseline, current)
    )
    assert _outcome(read_a.rate) == _outcome(lambda: _reference_rate(baseline))


@settings(deadline=None, max_examples=40)
@given(_samples | _whole_samples)
@example(_hard(14, 60, _FRACTIONAL))
@example(_hard(3, 60, _HUGE_WHOLE))
@example([(1e15, 1.0), (0.3, 1.0), (-1e15, 1.0)])  # a running sum loses the 0.3
def test_mean_from_columns_is_the_pairs_mean_to_the_bit(sample: Sample) -> None:
    """The weighted mean from the sorted columns: fsum does not depend on the order."""
    assert repr(Ordered(sample).mean()) == repr(_reference_mean(sample))


@settings(deadline=None, max_examples=100)
@given(st.lists(_samples | _whole_samples, min_size=1, max_size=3))
@example([*_hard_pair(14, _FRACTIONAL), _hard(3, 60, _HUGE_WHOLE)])
def test_every_figure_of_a_read_sample_is_its_summary(samples: list[Sample]) -> None:
    """`_Summaries` (counted quantiles, counts, columns) gives each metric's own summary."""
    summary = _Summaries()
    for sample in samples:
        for metric in _METRICS:
            assert repr(summary(metric, sample)) == repr(metric.summary(sample))
            if metric.quantile is not None:
                reference = weighted_quantiles(sorted(sample), (metric.quantile,))[0]
                assert repr(summary(metric, sample)) == repr(reference)


def test_a_sample_read_unsorted_keeps_equal_values_in_their_order() -> None:
    """An unsorted sample is sorted stably: within a tie group, weights add in the order
    given, so a fractional weight's rounding is the walk's."""
    rng = random.Random(5)
    sample = [(float(rng.randrange(4)), rng.choice((0.1, 0.7, 1 / 3))) for _ in range(300)]
    values, weights = Ordered(sample).columns()
    assert values == sorted(v for v, _ in sample)
    for value in set(values):
        assert [w for v, w in zip(values, weights, strict=True) if v == value] == [
            w for v, w in sample if v == value
        ]
    other = [(v + 0.5, w) for v, w in reversed(sample)]
    assert repr(mann_whitney(sample, other)) == repr(_reference_mann_whitney(sample, other))


def test_a_drift_check_over_sampled_calls_equals_the_reference_tests() -> None:
    """A whole check (rates, U, the p95 test, figures) over calls sampled at weight 4."""
    rng = random.Random(17)

    def window(shift: float) -> dict[tuple[str, ...], dict[str, Sample]]:
        calls = []
        for _ in range(2000):
            failed = rng.random() < 0.05
            weight = 1.0 if failed or rng.random() < 0.2 else 4.0
            calls.append((failed, round(rng.lognormvariate(6 + shift, 0.5), 3), weight))
        return {
            ("f",): {
                "error": [(int(f), w) for f, _, w in calls],
                "retries": [(int(f and rng.random() < 0.5), w) for f, _, w in calls],
                "limit": [(0, w) for _, _, w in calls],
                "duration_ms": sorted(((d, w) for _, d, w in calls), key=_VALUE),
                "output_tokens": sorted(((int(d) // 10, w) for _, d, w in calls), key=_VALUE),
                "cost_usd": sorted(((d * 1e-6, w) for _, d, w in calls), key=_VALUE),
            }
        }

    baseline, current = window(0.0), window(0.3)
    report = Check()(baseline, current)
    assert report.drifted
    for finding in report.findings:
        a = baseline[finding.group][_source(finding.metric)]
        b = current[finding.group][_source(finding.metric)]
        if finding.metric in ("failure rate", "retry rate", "limit-hit rate"):
            expected = compare_rates(a, b)
        elif finding.metric == "latency p95":
            expected = _reference_quantile_test(a, b, 0.95)
        else:
            expected = _reference_mann_whitney(a, b)
        assert repr(finding.comparison) == repr(expected)


def _source(label: str) -> str:
    return next(metric.source for metric in _METRICS if metric.label == label)
