"""The report's chart sections: one chart per metric over time, one series per group."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape

import llmguard.cli._format as fmt
from llmguard.cli._aggregates import GroupStats
from llmguard.cli._charts import Series, chart, legend
from llmguard.cli._dataset import Dataset
from llmguard.cli._html import MAX_SERIES
from llmguard.cli._report_time import Unit, axis_label, bucket_name
from llmguard.cli._window import Window


@dataclass(frozen=True, slots=True)
class _Metric:
    title: str
    figure: Callable[[GroupStats], float | None]
    stacked: bool
    axis: Callable[[float], str]
    show: Callable[[float], str]
    empty: str


def compact(value: float) -> str:
    """A number to three significant digits, with ``k`` or ``M`` past a thousand."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


def _axis_percent(value: float) -> str:
    return f"{value * 100:.3g}%"


def _axis_money(value: float) -> str:
    return f"${value:.3g}" if value else "$0"


def _axis_duration(value: float) -> str:
    return fmt.duration(value) if value else "0"


def _decimal(value: float) -> str:
    return f"{value:.2f}"


_METRICS = (
    _Metric("Calls", lambda g: g.calls, True, compact, fmt.count, "no calls"),
    _Metric("Failure rate", lambda g: g.error_rate, False, _axis_percent, fmt.percent, ""),
    _Metric(
        "Schema failure rate",
        lambda g: g.schema_failure_rate,
        False,
        _axis_percent,
        fmt.percent,
        "",
    ),
    _Metric(
        "Retries per call",
        lambda g: g.mean_retries,
        False,
        compact,
        _decimal,
        "no attempt counts recorded",
    ),
    _Metric("p95 latency", lambda g: g.p95_ms, False, _axis_duration, fmt.duration, ""),
    _Metric(
        "Tokens (in + out)",
        lambda g: g.input_tokens + g.output_tokens,
        True,
        compact,
        fmt.tokens,
        "no token usage recorded",
    ),
    _Metric("Cost", lambda g: g.cost_usd, True, _axis_money, fmt.money, "no cost recorded"),
    _Metric(
        "Feedback score (mean)",
        lambda g: g.feedback_mean,
        False,
        compact,
        _decimal,
        "no feedback recorded",
    ),
)


def charts_section(
    dataset: Dataset,
    span: Window,
    unit: Unit,
    buckets: list[str],
    by: str,
    heading: str,
    *,
    exclude: str | None,
) -> str:
    """One chart per metric over ``buckets``, one series per group of ``by``.

    Args:
        dataset: The records.
        span: Only calls in this window.
        unit: The buckets' time unit.
        buckets: Every bucket key, in order; the x axis.
        by: The grouping column, e.g. ``"name"`` or ``"prompt"``.
        heading: The section's heading.
        exclude: A group left out of the charts (calls naming no prompt), if any.
    """
    figures: dict[tuple[str, str], GroupStats] = {}
    calls: dict[str, float] = {}
    for found in dataset.stats((unit, by), span):
        figures[(found.key[0], found.key[1])] = found
        calls[found.key[1]] = calls.get(found.key[1], 0.0) + found.calls
    calls.pop(exclude or "", None)
    if not calls:
        return (
            f"<section><h2>{escape(heading)}</h2>"
            '<p class="note">No call in this window names a prompt version.</p></section>'
        )
    ranked = sorted(calls, key=lambda k: (-calls[k], k))
    shown = ranked[:MAX_SERIES]
    notes = []
    if len(ranked) > len(shown):
        notes.append(f"The {len(shown)} busiest of {len(ranked)} are drawn; the table lists all.")
    if exclude is not None:
        notes.append("Calls that name no prompt are left out.")
    axis_labels = [axis_label(b) for b in buckets]
    names = [bucket_name(b) for b in buckets]
    plots = []
    for metric in _METRICS:
        series = [
            Series(
                key,
                index,
                [
                    None if (g := figures.get((b, key))) is None else metric.figure(g)
                    for b in buckets
                ],
            )
            for index, key in enumerate(shown)
        ]
        plots.append(
            chart(
                metric.title,
                axis_labels,
                names,
                series,
                stacked=metric.stacked,
                axis=metric.axis,
                show=metric.show,
                empty=metric.empty,
            )
        )
    note = f'<p class="note">{escape(" ".join(notes))}</p>' if notes else ""
    return (
        f"<section data-series><h2>{escape(heading)}</h2>{note}{legend(shown)}"
        f'<div class="grid">{"".join(plots)}</div></section>'
    )
