"""`llmguard drift`'s figures per window: the latency quantiles of a sample are found
together, with the figures each metric's own summary gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from llmguard.cli._drift import _METRICS, _Summaries

# Latencies with ties, and weights whole and not: pairs that sort by weight among equal
# values are where sorting and the running total matter.
_samples = st.lists(
    st.tuples(
        st.sampled_from((0.0, 1.5, 2.0, 250.0)) | st.floats(0, 1e6, allow_nan=False),
        st.sampled_from((1.0, 4.0, 0.5, 1 / 3, 0.0)),
    ),
    max_size=80,
)


@given(samples=st.lists(_samples, min_size=1, max_size=3))
def test_quantiles_found_together_equal_each_metrics_own(
    samples: list[list[tuple[float, float]]],
) -> None:
    """Every metric's figure for every sample, asked in any order and more than once,
    is what the metric's summary gives alone, to the bit."""
    summary = _Summaries()
    for _ in range(2):
        for sample in samples:
            for metric in _METRICS:
                found = summary(metric, sample)
                expected = metric.summary(sample)
                assert repr(found) == repr(expected)


def test_a_new_sample_at_a_freed_address_is_not_taken_for_the_old_one() -> None:
    """A sample is known by identity while it is held: another list that reuses a
    dropped one's id gets its own quantiles."""
    summary = _Summaries()
    p50 = next(metric for metric in _METRICS if metric.quantile == 0.5)
    assert summary(p50, [(1.0, 1.0), (2.0, 1.0), (3.0, 1.0)]) == 2.0
    for _ in range(50):
        assert summary(p50, [(10.0, 1.0)]) == 10.0
