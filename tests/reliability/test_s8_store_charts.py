"""Attacks on the report's charts through the figures a store holds: values far below a
cent or near the largest double, which no axis of round steps had room for."""

from __future__ import annotations

import itertools
import json
import math
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmguard.cli import main
from llmguard.cli._charts import Series, chart, ticks


def _line(index: int, **fields: object) -> str:
    record = {
        "trace_id": f"{index:032x}",
        "span_id": f"{index:016x}",
        "name": "f",
        "kind": "llm",
        "status": "ok",
        "start": f"2026-01-0{1 + index % 3}T10:00:00.000000Z",
        "end": f"2026-01-0{1 + index % 3}T10:00:01.000000Z",
        "duration_ms": 1000.0,
        **fields,
    }
    return json.dumps(record) + "\n"


@pytest.mark.parametrize(
    "costs",
    [[1e-13] * 6, [1e-300] * 6, [5e-324] * 6, [1e308, 1e308, 0.01, 0.02], [1.7e308, 1.7e308, 0.0]],
    ids=["1e-13", "1e-300", "subnormal", "1e308 twice a day", "near the largest double"],
)
def test_a_report_of_extreme_costs_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], costs: list[float]
) -> None:
    """Costs a millionth of a millionth of a dollar give a report (exit 0), not
    ZeroDivisionError or a math domain error from an axis; costs so large their sum
    overflows are left out with a warning (figures above 2**53), not OverflowError."""
    path = tmp_path / "calls.jsonl"
    path.write_text("".join(_line(i, cost_usd=cost) for i, cost in enumerate(costs)))
    out = tmp_path / "report.html"
    assert main(["report", str(path), "-o", str(out)]) == 0, capsys.readouterr().err
    page = out.read_text()
    assert not re.search(r'="[^"]*(inf|nan)', page, flags=re.IGNORECASE)
    assert "$inf" not in page


_FINITE = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(_FINITE, _FINITE)
def test_ticks_are_finite_increasing_and_cover_the_range(a: float, b: float) -> None:
    """For any finite range whose width is finite, the marks are finite, strictly
    increasing, and start at its low end or below and end at its high end or above."""
    low, high = min(a, b), max(a, b)
    if not math.isfinite(high - low):
        return
    marks = ticks(low, high)
    assert all(map(math.isfinite, marks))
    assert all(x < y for x, y in itertools.pairwise(marks))
    # Within a millionth of the axis: a tick one rounding step off an end draws the same.
    slack = 1e-6 * (marks[-1] - marks[0])
    assert marks[0] <= low + slack
    assert marks[-1] >= high - slack


@settings(max_examples=100, deadline=None)
@given(st.lists(st.none() | st.floats(min_value=0, allow_nan=False), min_size=1, max_size=4))
def test_a_chart_never_fails_on_its_figures(values: list[float | None]) -> None:
    """A chart of any non-negative figures, infinity included, is drawn or says it
    cannot be; no coordinate is inf or nan."""
    for stacked in (True, False):
        figure = chart(
            "t",
            [str(i) for i in range(len(values))],
            [str(i) for i in range(len(values))],
            [Series("a", 0, values), Series("b", 1, values)],
            stacked=stacked,
            axis=str,
            show=str,
            empty="nothing",
        )
        coordinates = figure.split("<text")[0]
        assert "inf" not in coordinates
        assert "nan" not in coordinates
