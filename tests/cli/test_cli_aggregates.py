"""Tests for the query layer's weighted quantiles (llmguard.cli._dataset)."""

from __future__ import annotations

from llmguard.cli._quantiles import weighted_quantile


def test_weighted_quantile_is_nearest_rank() -> None:
    """The quantile is the first value whose cumulative weight reaches q of the total."""
    assert weighted_quantile([], 0.5) is None
    assert weighted_quantile([(1.0, 1.0), (2.0, 1.0), (3.0, 2.0)], 0.5) == 2.0
    assert weighted_quantile([(1.0, 1.0), (2.0, 1.0), (3.0, 2.0)], 0.51) == 3.0
    assert weighted_quantile([(1.0, 3.0)], 0.0) == 1.0
