"""Tests for llmguard.cli._report: the report's chart sections, one series per group."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests._helpers.cli_report import START, _Records, _report, _write


def test_busiest_series_are_drawn(tmp_path: Path) -> None:
    """Past eight groups the charts draw the busiest, and the table still lists all."""
    out = _Records()
    for number in range(10):
        for i in range(number + 1):
            out.add(f"fn{number}", START + timedelta(hours=i), 10.0)
    html = _report(_write(tmp_path / "many.db", out.records))
    assert "The 8 busiest of 10 are drawn; the table lists all." in html
    charts = html[html.index("<h2>Per function</h2>") : html.index("<h2>Per prompt version</h2>")]
    assert charts.count("<button") == 8
    assert ">fn1<" not in charts
    table = html[html.index("<h2>Functions</h2>") : html.index("<h2>Prompt versions</h2>")]
    assert all(f"<td>fn{number}</td>" in table for number in range(10))
