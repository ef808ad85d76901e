"""Tests for the drift statistics (llmguard.cli._significance), checked against SciPy."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from scipy import stats

from llmguard.cli._significance import (
    Comparison,
    Sample,
    benjamini_hochberg,
    cohen_h,
    compare_rates,
    effective_size,
    mann_whitney,
    quantile_test,
    two_proportions,
    two_sided_p,
)

_VALUES = st.lists(st.integers(0, 12).map(float), min_size=1, max_size=60)
_WEIGHTS = st.floats(0.05, 20.0)


def _unit(values: list[float]) -> Sample:
    return [(v, 1.0) for v in values]


@settings(deadline=None)
@given(
    n_a=st.integers(1, 5000),
    n_b=st.integers(1, 5000),
    share_a=st.floats(0, 1),
    share_b=st.floats(0, 1),
)
def test_two_proportions_equal_the_chi_square_test(
    n_a: int, n_b: int, share_a: float, share_b: float
) -> None:
    """The pooled z-test's p-value is SciPy's 2x2 chi-square test without Yates' correction."""
    x_a, x_b = round(share_a * n_a), round(share_b * n_b)
    result = two_proportions(x_a, n_a, x_b, n_b)
    if x_a + x_b in (0, n_a + n_b):
        assert result is None
        return
    assert result is not None
    reference = stats.chi2_contingency([[x_a, n_a - x_a], [x_b, n_b - x_b]], correction=False)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-300)
    assert result.statistic**2 == pytest.approx(reference.statistic, rel=1e-9, abs=1e-12)
    assert math.copysign(1, result.statistic) == math.copysign(1, x_b / n_b - x_a / n_a) or (
        result.statistic == 0
    )


def test_two_proportions_with_nothing_to_compare_are_none() -> None:
    """An empty side, or no variation at all on both sides, gives no test."""
    assert two_proportions(0, 0, 3, 10) is None
    assert two_proportions(2, 10, 0, 0) is None
    assert two_proportions(0, 10, 0, 20) is None
    assert two_proportions(10, 10, 20, 20) is None
    one_sided = two_proportions(0, 10, 10, 10)
    assert one_sided is not None
    assert one_sided.p_value < 1e-4
    assert one_sided.effect == pytest.approx(math.pi)


def test_two_proportions_reject_impossible_counts() -> None:
    """More successes than trials, or negative counts, are a caller's mistake."""
    with pytest.raises(ValueError, match="11 successes out of 10"):
        two_proportions(11, 10, 1, 10)
    with pytest.raises(ValueError, match="-1 successes"):
        two_proportions(1, 10, -1, 10)


def test_cohen_h_is_the_difference_of_arcsine_roots() -> None:
    """2 % to 10 % is h = 0.36, signed by direction; rates are clamped into [0, 1]."""
    assert cohen_h(0.02, 0.10) == pytest.approx(0.3597, abs=1e-4)
    assert cohen_h(0.10, 0.02) == pytest.approx(-0.3597, abs=1e-4)
    assert cohen_h(0.5, 0.5) == 0
    assert cohen_h(0.0, 1.0 + 1e-16) == pytest.approx(math.pi)


def test_two_sided_p_keeps_its_digits_far_in_the_tail() -> None:
    """At z = 10 the p-value is SciPy's to 1e-12 relative, where 1 + erf would give 0."""
    assert two_sided_p(10.0) == pytest.approx(2 * stats.norm.sf(10.0), rel=1e-12)
    assert two_sided_p(-3.0) == two_sided_p(3.0)
    assert two_sided_p(0.0) == 1.0


@settings(deadline=None)
@given(baseline=_VALUES, current=_VALUES, continuity=st.booleans())
def test_mann_whitney_equals_scipy(
    baseline: list[float], current: list[float], continuity: bool
) -> None:
    """P-value and U (as Cliff's delta) equal SciPy's asymptotic test, ties included."""
    result = mann_whitney(_unit(baseline), _unit(current), continuity=continuity)
    if len(set(baseline + current)) == 1:
        assert result is None
        return
    assert result is not None
    reference = stats.mannwhitneyu(
        current, baseline, method="asymptotic", use_continuity=continuity
    )
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-12)
    pairs = len(baseline) * len(current)
    assert result.effect == pytest.approx(2 * reference.statistic / pairs - 1, abs=1e-12)
    assert (result.statistic > 0) == (result.effect > 0) or result.statistic == 0


def test_mann_whitney_on_100k_values_equals_scipy() -> None:
    """With 100,000 values a side (well within a drift run's time) it still agrees."""
    rng = random.Random(7)
    baseline = [rng.lognormvariate(6.5, 0.5) for _ in range(100_000)]
    current = [rng.lognormvariate(6.51, 0.5) for _ in range(100_000)]
    result = mann_whitney(_unit(baseline), _unit(current))
    assert result is not None
    reference = stats.mannwhitneyu(current, baseline, method="asymptotic")
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)


def test_mann_whitney_with_nothing_to_compare_is_none() -> None:
    """An empty side, zero total weight, or one value everywhere gives no test."""
    assert mann_whitney([], _unit([1.0, 2.0])) is None
    assert mann_whitney(_unit([1.0, 2.0]), []) is None
    assert mann_whitney([(1.0, 0.0)], _unit([1.0, 2.0])) is None
    assert mann_whitney(_unit([3.0] * 5), [(3.0, 1.0), (3.0, 4.0)]) is None
    # A value that weighs nothing does not make the sample vary.
    assert mann_whitney(_unit([3.0] * 5), [(3.0, 1.0), (9.0, 0.0)]) is None


@settings(deadline=None)
@given(baseline=_VALUES, current=_VALUES, weight_a=_WEIGHTS, weight_b=_WEIGHTS)
def test_equal_weights_change_nothing(
    baseline: list[float], current: list[float], weight_a: float, weight_b: float
) -> None:
    """Every record weighing the same w is the unweighted test, for ranks and for rates."""
    weighted_a = [(v, weight_a) for v in baseline]
    weighted_b = [(v, weight_b) for v in current]
    assert mann_whitney(weighted_a, weighted_b) == mann_whitney(_unit(baseline), _unit(current))
    rates_a = [(v > 6, w) for v, w in weighted_a]
    rates_b = [(v > 6, w) for v, w in weighted_b]
    weighted = compare_rates(rates_a, rates_b)
    plain = compare_rates([(v, 1.0) for v, _ in rates_a], [(v, 1.0) for v, _ in rates_b])
    assert (weighted is None) == (plain is None)
    if weighted is not None and plain is not None:
        assert weighted.p_value == pytest.approx(plain.p_value, rel=1e-9, abs=1e-15)
        assert weighted.effect == pytest.approx(plain.effect, abs=1e-12)


@settings(deadline=None)
@given(
    baseline=st.lists(st.tuples(st.integers(0, 8), _WEIGHTS), min_size=1, max_size=25),
    current=st.lists(st.tuples(st.integers(0, 8), _WEIGHTS), min_size=1, max_size=25),
)
def test_weighted_cliffs_delta_counts_weighted_pairs(
    baseline: list[tuple[float, float]], current: list[tuple[float, float]]
) -> None:
    """The effect size is P(current > baseline) - P(current < baseline) over weighted pairs."""
    assume(len({v for v, _ in baseline + current}) > 1)
    result = mann_whitney(baseline, current)
    assert result is not None
    signs = math.fsum(w_a * w_b * ((b > a) - (b < a)) for a, w_a in baseline for b, w_b in current)
    total = math.fsum(w for _, w in baseline) * math.fsum(w for _, w in current)
    assert result.effect == pytest.approx(signs / total, abs=1e-9)


def test_weighted_rates_use_the_linearized_variance() -> None:
    """Weighted rates; variance sum(w^2 (x - p)^2) / (sum w)^2 per side, p pooled."""
    baseline = [(1, 1.0)] * 20 + [(0, 4.0)] * 180
    current = [(1, 1.0)] * 60 + [(0, 4.0)] * 140
    rate_a, rate_b, pooled = 20 / 740, 60 / 620, 80 / 1360
    variance = (20 * (1 - pooled) ** 2 + 180 * 16 * pooled**2) / 740**2 + (
        60 * (1 - pooled) ** 2 + 140 * 16 * pooled**2
    ) / 620**2
    result = compare_rates(baseline, current)
    assert result is not None
    assert result.statistic == pytest.approx((rate_b - rate_a) / math.sqrt(variance), rel=1e-12)
    assert result.effect == pytest.approx(cohen_h(rate_a, rate_b), rel=1e-12)
    assert compare_rates([], current) is None
    assert compare_rates([(0, 1.0), (0, 2.0)], [(0, 3.0), (0, 1.0)]) is None


def test_sampling_successes_keeps_a_rate_test_as_sure() -> None:
    """Keeping every failure and a fifth of successes (weight 5) barely widens the test.

    Kish's effective size would count the sample as 1/4 of its records and lose most of
    the test's power; the linearized variance keeps z within 15 % of the full data's.
    """
    rng = random.Random(11)
    full_a = [(rng.random() < 0.02, 1.0) for _ in range(20_000)]
    full_b = [(rng.random() < 0.03, 1.0) for _ in range(20_000)]

    def sampled(full: Sample) -> Sample:
        return [(v, 1.0) if v else (v, 5.0) for v, _ in full if v or rng.random() < 0.2]

    complete = compare_rates(full_a, full_b)
    thinned = compare_rates(sampled(full_a), sampled(full_b))
    assert complete is not None
    assert thinned is not None
    assert thinned.statistic == pytest.approx(complete.statistic, rel=0.15)
    assert effective_size(sampled(full_a)) < 0.3 * 20_000


def _rates(rng: random.Random, n: int) -> tuple[Sample, Sample]:
    return (
        [(rng.random() < 0.05, 1.0) for _ in range(n)],
        [(rng.random() < 0.05, 1.0) for _ in range(n)],
    )


def _latencies(rng: random.Random, n: int) -> tuple[Sample, Sample]:
    return (
        [(round(rng.lognormvariate(6, 0.5)), 1.0) for _ in range(n)],
        [(round(rng.lognormvariate(6, 0.5)), 1.0) for _ in range(n)],
    )


def _sampled(rng: random.Random, n: int) -> tuple[Sample, Sample]:
    # As llmguard samples: errors always kept (weight 1), a fifth of the rest (weight 5).
    def draw() -> Sample:
        out: list[tuple[float, float]] = []
        while len(out) < n:
            failed = rng.random() < 0.1
            if failed or rng.random() < 0.2:
                out.append((rng.lognormvariate(6 + failed, 0.5), 1.0 if failed else 5.0))
        return out

    return draw(), draw()


def _sampled_failures(rng: random.Random, n: int) -> tuple[Sample, Sample]:
    a, b = _sampled(rng, n)
    return [(w == 1.0, w) for _, w in a], [(w == 1.0, w) for _, w in b]


@pytest.mark.parametrize(
    ("test", "draw"),
    [
        (compare_rates, _rates),
        (compare_rates, _sampled_failures),
        (mann_whitney, _latencies),
        (mann_whitney, _sampled),
        (lambda a, b: quantile_test(a, b, 0.95), _latencies),
        (lambda a, b: quantile_test(a, b, 0.95), _sampled),
    ],
    ids=["rates", "rates-weighted", "mann-whitney", "mann-whitney-weighted", "p95", "p95-weighted"],
)
def test_p_values_are_calibrated_when_nothing_changed(
    test: Callable[[Sample, Sample], Comparison | None],
    draw: Callable[[random.Random, int], tuple[Sample, Sample]],
) -> None:
    """Over 400 pairs from one distribution, p < 0.05 comes up about 5 % of the time.

    Measured: rates 5.75 %, weighted 5.25 %; Mann-Whitney 5.0 %, weighted 5.0 %; p95
    3.0 % (ties at the threshold make it a little conservative), weighted 5.25 %.
    """
    rng = random.Random(2026)
    results = [test(*draw(rng, 300)) for _ in range(400)]
    rejected = sum(r is not None and r.p_value < 0.05 for r in results) / len(results)
    assert 0.02 <= rejected <= 0.08


def test_quantile_test_sees_a_slower_tail_that_ranks_dilute() -> None:
    """A tenth of calls four times slower doubles p95; the p95 test is far surer than U."""
    rng = random.Random(3)
    baseline = [(rng.lognormvariate(6.7, 0.4), 1.0) for _ in range(2000)]
    current = [
        (rng.lognormvariate(6.7, 0.4) * (4 if rng.random() < 0.1 else 1), 1.0) for _ in range(2000)
    ]
    tail = quantile_test(baseline, current, 0.95)
    ranks = mann_whitney(baseline, current)
    assert tail is not None
    assert ranks is not None
    assert tail.p_value < 1e-20
    assert tail.effect > 0.3
    assert ranks.effect < tail.effect
    assert quantile_test([(1.0, 1.0)] * 5, [(1.0, 1.0)] * 5, 0.95) is None
    assert quantile_test([], [], 0.95) is None


@given(st.lists(st.floats(0, 1), max_size=40))
def test_benjamini_hochberg_equals_scipy(p_values: list[float]) -> None:
    """Adjusted p-values equal scipy.stats.false_discovery_control, in the input's order."""
    adjusted = benjamini_hochberg(p_values)
    if not p_values:
        assert adjusted == []
        return
    reference = stats.false_discovery_control(p_values)
    assert adjusted == pytest.approx(list(reference), rel=1e-12, abs=1e-300)


# The hard cases first: a true value that is not 1 (2.5), bools and ints among floats,
# weights from 0 to 1e6 whose squared terms round when added, an empty sample.
@example([(2.5, 3.0), (True, 0.1), (False, 1e6), (0, 0.7), (1.0, 123456.789)], 0.3)
@example([(1, 1e6), (0.0, 0.1), (2.5, 0.1), (0, 1e6), (1.0, 0.3)] * 3, 0.7)
@example([(2.5, 1.0), (False, 0.0)], 0.0)
@example([], 0.5)
@settings(deadline=None, max_examples=100)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0, 1, 0.0, 1.0, True, False, 2.5]),
            st.floats(0.0, 1e6, allow_nan=False),
        ),
        max_size=60,
    ),
    st.floats(0.0, 1.0),
)
def test_spread_is_the_sum_of_its_terms_to_the_bit(
    sample: list[tuple[float, float]], rate: float
) -> None:
    """The rate test's variance term equals fsum of ``w² (x - rate)²`` written out."""
    from llmguard.cli._significance import _spread

    written_out = math.fsum(w * w * ((1.0 if v else 0.0) - rate) ** 2 for v, w in sample)
    assert repr(_spread(sample, rate)) == repr(written_out)


def _walked_mann_whitney(baseline: Sample, current: Sample) -> Comparison | None:
    """`mann_whitney` as a plain loop over the tie groups (its earlier form)."""
    import itertools
    import operator

    from llmguard.cli._significance import _scaled

    scaled_a, n_a = _scaled(baseline)
    scaled_b, n_b = _scaled(current)
    if n_a <= 0 or n_b <= 0:
        return None
    pooled = [(v, w, 0.0) for v, w in scaled_a]
    pooled.extend((v, 0.0, w) for v, w in scaled_b)
    pooled.sort(key=operator.itemgetter(0))
    u = ties = below = 0.0
    groups = 0
    for _, tied in itertools.groupby(pooled, key=operator.itemgetter(0)):
        mass_a = mass_b = 0.0
        for _, w_a, w_b in tied:
            mass_a += w_a
            mass_b += w_b
        u += mass_b * (below + mass_a / 2)
        below += mass_a
        mass = mass_a + mass_b
        ties += mass * mass * mass - mass
        groups += mass > 0
    n = n_a + n_b
    variance = n_a * n_b / 12 * ((n + 1) - ties / (n * (n - 1)))
    if groups < 2 or variance <= 0:
        return None
    distance = u - n_a * n_b / 2
    distance = math.copysign(max(abs(distance) - 0.5, 0.0), distance)
    z = distance / math.sqrt(variance)
    return Comparison(z, two_sided_p(z), 2 * u / (n_a * n_b) - 1)


_OBSERVATIONS = st.lists(
    st.tuples(
        st.one_of(st.floats(-1e6, 1e6), st.sampled_from([0.0, -0.0, 1.0, 2.0])),
        st.sampled_from([1.0, 4.0, 0.3, 10.0]),
    ),
    max_size=80,
)


# The hard cases first: values both sides hold, under unequal weights (the baseline's
# mass and the current side's of one group); 0.0 and -0.0 on both sides; a tie group of
# 0.3s whose sum rounds; first and last weights equal with another between; an empty
# side; one value everywhere; whole weights with ties (the counting path).
@example(
    [(1.0, 1.0), (1.0, 4.0), (2.0, 0.3), (-5.0, 10.0)],
    [(1.0, 10.0), (0.0, 0.3), (2.0, 1.0), (2.0, 4.0)],
)
@example([(0.0, 0.3), (-0.0, 4.0), (1.0, 1.0)], [(-0.0, 10.0), (0.0, 1.0), (2.0, 0.3)])
@example(
    [(5.0, 0.3), (5.0, 0.3), (5.0, 0.3), (5.0, 10.0), (1.0, 4.0)],
    [(5.0, 0.3), (5.0, 0.3), (2.0, 1.0), (7.0, 0.3)],
)
@example([(1.0, 4.0), (2.0, 0.3), (3.0, 4.0)], [(2.0, 4.0), (3.0, 1.0)])
@example([], [(1.0, 1.0), (2.0, 4.0)])
@example([(3.0, 1.0), (3.0, 1.0)], [(3.0, 4.0)])
@example([(1.0, 1.0), (1.0, 1.0), (2.0, 1.0)], [(1.0, 1.0), (3.0, 1.0), (1.0, 1.0)])
@settings(deadline=None, max_examples=100)
@given(_OBSERVATIONS, _OBSERVATIONS)
def test_mann_whitney_equals_the_loop_to_the_bit(baseline: Sample, current: Sample) -> None:
    """With or without ties, equal weights or not: the same z, p-value and effect."""
    assert repr(mann_whitney(baseline, current)) == repr(_walked_mann_whitney(baseline, current))
