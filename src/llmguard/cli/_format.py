"""Numbers and tables as the commands print them."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["count", "duration", "money", "percent", "table", "tokens"]


def duration(ms: float | None) -> str:
    """``850 µs``, ``12.3 ms``, ``4.56 s``; ``-`` when unknown."""
    if ms is None or math.isnan(ms):
        return "-"
    if ms < 1:
        return f"{ms * 1000:.0f} µs"
    if ms < 1000:
        return f"{ms:.3g} ms" if ms < 100 else f"{ms:.0f} ms"
    return f"{ms / 1000:.3g} s" if ms < 100_000 else f"{ms / 1000:.0f} s"


def percent(rate: float | None) -> str:
    """A rate as a percentage with one decimal."""
    return "-" if rate is None else f"{rate * 100:.1f}%"


def count(value: float) -> str:
    """A weighted count: exact when whole, else rounded and marked ``~``."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"~{value:,.0f}"


def tokens(value: float | None) -> str:
    """A token total, abbreviated past ten thousand (12.3k) and past a million (3.9M)."""
    if value is None:
        return "-"
    if value >= 999_950:  # what would round to "1000.0k"
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1_000:.1f}k"
    return f"{value:,.0f}"


def money(usd: float | None) -> str:
    """US dollars: to a millionth below a cent, to a cent from a dollar."""
    if usd is None:
        return "-"
    if usd == 0:
        return "$0"
    if usd < 0.01:
        return f"${usd:.6f}"
    if usd < 1:
        return f"${usd:.4f}"
    return f"${usd:,.2f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1) -> str:
    """Columns padded to their widest cell; the first ``left`` columns are left-aligned."""
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = (
            cell.ljust(width) if index < left else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])
