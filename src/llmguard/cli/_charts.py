"""Inline SVG charts for ``llmguard report``, drawn in Python so they need no script.

A chart is a small multiple: one metric over time buckets, one series per group, as
lines (rates, latency, scores) or stacked bars (amounts that add up: calls, tokens,
cost). Every bucket carries a ``<title>``, so hovering shows its figures even with
scripts off. Every string that reaches the markup is escaped here.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["PALETTE", "Series", "chart", "legend", "ticks"]

# Tableau 10, in its order: distinct hues that stay apart for most colour vision.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)

_WIDTH, _HEIGHT = 320, 164
_LEFT, _RIGHT, _TOP, _BOTTOM = 46, 8, 8, 20
_X_LABELS = 5
# Markers on every point only while they stay apart.
_MAX_MARKERS = 45


@dataclass(frozen=True, slots=True)
class Series:
    """One group's values, one per bucket; ``None`` where it has no figure.

    Attributes:
        label: The group's name, as shown in tooltips.
        index: Its position in the section's legend, which picks its colour.
        values: The figures, bucket by bucket.
    """

    label: str
    index: int
    values: Sequence[float | None]


def ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round axis values covering ``low`` to ``high`` in about ``count`` steps.

    Steps are 1, 2, 2.5 or 5 times a power of ten; the first tick is at or below
    ``low`` and the last at or above ``high``. A range too narrow or too wide for such
    steps in a double (a width under 1e-300, ends near the largest double) gets its
    two ends as ticks.
    """
    if not high > low:
        high = low + (abs(low) or 1.0)
        if not math.isfinite(high):  # low is near the largest double
            low, high = low / 2, low
    raw = (high - low) / count
    if not (_SMALLEST_STEP <= raw < math.inf):
        return [low, high]
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    # Twelve significant digits drop the noise of i * step (0.30000000000000004), at
    # any scale: rounding to twelve decimals made every tick of a tiny range 0.
    marks = [float(f"{i * step:.12g}") for i in range(first, last + 1)]
    if not all(map(math.isfinite, marks)) or not all(map(operator.lt, marks, marks[1:])):
        return [low, high]
    return marks


# The narrowest tick step `ticks` makes; a range narrower than four of them gets its ends.
_SMALLEST_STEP = 1e-300


def legend(labels: Sequence[str]) -> str:
    """Buttons naming each series in its colour; the page's script turns them into toggles."""
    items = []
    for index, label in enumerate(labels):
        colour = PALETTE[index % len(PALETTE)]
        items.append(
            f'<button type="button" data-s="{index}" aria-pressed="false">'
            f'<svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" '
            f'rx="2" fill="{colour}"/></svg>{escape(label)}</button>'
        )
    return f'<div class="legend">{"".join(items)}</div>'


def chart(
    title: str,
    axis_labels: Sequence[str],
    bucket_names: Sequence[str],
    series: Sequence[Series],
    *,
    stacked: bool,
    axis: Callable[[float], str],
    show: Callable[[float], str],
    empty: str,
) -> str:
    """One chart as a ``<figure>`` holding an inline ``<svg>``.

    Args:
        title: The caption.
        axis_labels: Each bucket's short label on the time axis.
        bucket_names: Each bucket's full name, for tooltips.
        series: The groups, each with one value per bucket.
        stacked: Stack bars (amounts) instead of drawing lines (rates, levels).
        axis: Formats a value on the vertical axis.
        show: Formats a value in a tooltip.
        empty: What the chart says when no series has a value.
    """
    n = len(bucket_names)
    parts = [
        f'<svg class="chart" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" '
        f'aria-label="{escape(title)}">'
    ]
    present = [v for s in series for v in s.values if v is not None]
    if not present or n == 0:
        return _empty(title, parts, empty)
    if stacked:
        heights = [_total(s.values[i] or 0.0 for s in series) for i in range(n)]
        low, high = 0.0, max(heights)
    else:
        low, high = min(0.0, min(present)), max(present)
    marks = ticks(low, high) if math.isfinite(low) and math.isfinite(high) else [0.0]
    bottom, top = _HEIGHT - _BOTTOM, _TOP
    span = marks[-1] - marks[0]
    if not 0 < span < math.inf:
        # Figures near the largest double: their sum or the axis overflows.
        return _empty(title, parts, "figures too large to draw")

    def y(value: float) -> float:
        return bottom - (value - marks[0]) / span * (bottom - top)

    step = (_WIDTH - _LEFT - _RIGHT) / n

    def x(index: int) -> float:
        return _LEFT + step * (index + 0.5)

    parts.append(_axes(marks, y, axis, axis_labels, x))
    if stacked:
        parts.append(_bars(series, n, x, y, step))
    else:
        parts.append(_lines(series, n, x, y))
    parts.append(_hover(series, bucket_names, show, step, top, bottom))
    parts.append("</svg>")
    return _figure(title, "".join(parts), empty=False)


def _empty(title: str, parts: list[str], text: str) -> str:
    parts.append(
        f'<text class="empty" x="{_WIDTH / 2:g}" y="{_HEIGHT / 2:g}" '
        f'text-anchor="middle">{escape(text)}</text></svg>'
    )
    return _figure(title, "".join(parts), empty=True)


def _total(values: Iterable[float]) -> float:
    """The exact sum, or infinity where `math.fsum` overflows on the way."""
    try:
        return math.fsum(values)
    except OverflowError:
        return math.inf


def _figure(title: str, svg: str, *, empty: bool) -> str:
    state = " empty" if empty else ""
    return f'<figure class="plot{state}"><figcaption>{escape(title)}</figcaption>{svg}</figure>'


def _axes(
    marks: Sequence[float],
    y: Callable[[float], float],
    axis: Callable[[float], str],
    labels: Sequence[str],
    x: Callable[[int], float],
) -> str:
    out = ['<g class="axis">']
    for mark in marks:
        at = y(mark)
        out.append(
            f'<line x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{at:.1f}" y2="{at:.1f}"/>'
            f'<text x="{_LEFT - 5}" y="{at + 3:.1f}" text-anchor="end">{escape(axis(mark))}</text>'
        )
    every = max(1, math.ceil(len(labels) / _X_LABELS))
    baseline = _HEIGHT - _BOTTOM
    for index in range(0, len(labels), every):
        out.append(
            f'<text x="{x(index):.1f}" y="{baseline + 14}" text-anchor="middle">'
            f"{escape(labels[index])}</text>"
        )
    out.append(
        f'<line class="base" x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" '
        f'y1="{baseline}" y2="{baseline}"/></g>'
    )
    return "".join(out)


def _bars(
    series: Sequence[Series],
    n: int,
    x: Callable[[int], float],
    y: Callable[[float], float],
    step: float,
) -> str:
    width = max(step * 0.72, 1.0)
    out = []
    for position, s in enumerate(series):
        colour = PALETTE[s.index % len(PALETTE)]
        rects = []
        for i in range(n):
            value = s.values[i]
            if not value:
                continue
            below = _total(other.values[i] or 0.0 for other in series[:position])
            y0, y1 = y(below), y(below + value)
            rects.append(
                f'<rect x="{x(i) - width / 2:.2f}" y="{y1:.2f}" width="{width:.2f}" '
                f'height="{max(y0 - y1, 0.5):.2f}"/>'
            )
        out.append(f'<g class="s s{s.index}" fill="{colour}">{"".join(rects)}</g>')
    return "".join(out)


def _lines(
    series: Sequence[Series],
    n: int,
    x: Callable[[int], float],
    y: Callable[[float], float],
) -> str:
    out = []
    for s in series:
        colour = PALETTE[s.index % len(PALETTE)]
        runs: list[list[str]] = []
        dots = []
        previous: float | None = None
        for i in range(n):
            value = s.values[i]
            if value is None:
                previous = None
                continue
            point = f"{x(i):.2f} {y(value):.2f}"
            if previous is None:
                runs.append([point])
            else:
                runs[-1].append(point)
            previous = value
            # A lone point between gaps draws no line, so it always gets its marker.
            alone = (i == 0 or s.values[i - 1] is None) and (i == n - 1 or s.values[i + 1] is None)
            if n <= _MAX_MARKERS or alone:
                dots.append(f'<circle cx="{x(i):.2f}" cy="{y(value):.2f}" r="2.2"/>')
        path = " ".join("M" + " L".join(run) for run in runs if len(run) > 1)
        line = f'<path d="{path}" fill="none" stroke="{colour}"/>' if path else ""
        out.append(f'<g class="s s{s.index}" fill="{colour}">{line}{"".join(dots)}</g>')
    return "".join(out)


def _hover(
    series: Sequence[Series],
    names: Sequence[str],
    show: Callable[[float], str],
    step: float,
    top: float,
    bottom: float,
) -> str:
    out = ['<g class="hit">']
    for i, name in enumerate(names):
        lines = [name] + [
            f"{s.label}: {show(value)}" for s in series if (value := s.values[i]) is not None
        ]
        out.append(
            f'<rect x="{_LEFT + step * i:.2f}" y="{top}" width="{step:.2f}" '
            f'height="{bottom - top}"><title>{escape(chr(10).join(lines))}</title></rect>'
        )
    out.append("</g>")
    return "".join(out)
