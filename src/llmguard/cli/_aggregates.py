"""The figures for one group of calls, and the weighted quantiles behind its latencies."""

from __future__ import annotations

import bisect
import itertools
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["GroupStats", "add_up", "group_stats", "weighted_quantile", "weighted_quantiles"]


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
    cumulative = list(itertools.accumulate(map(operator.itemgetter(1), ordered)))
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


def group_stats(
    key: tuple[str, ...],
    sums: tuple[float | None, ...],
    latencies: list[tuple[float, float]],
    scores: list[float],
) -> GroupStats:
    """One group's figures from its SQL sums, its (latency, weight) pairs and its scores."""
    # SQL's sum() is NULL over no rows; every column but the retries' has one per call.
    calls, records, errors, schema, retried, retry_weight, limits, tin, tout, cost = (
        0.0 if value is None else float(value) for value in sums
    )
    p50, p95, p99 = weighted_quantiles(latencies, (0.50, 0.95, 0.99))
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
    )
