"""Tests for llmguard.cli._report: the report's hourly or daily buckets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from llmguard.cli import main
from tests._helpers.cli_report import START, _Records, _report, _write


def test_auto_bucket_uses_hours_for_short_spans(tmp_path: Path) -> None:
    """Calls within a day are charted by the hour; ``--bucket day`` overrides that."""
    out = _Records()
    for i in range(30):
        out.add("f", START + timedelta(minutes=17 * i), 10.0 + i)
    store = _write(tmp_path / "short.db", out.records)
    hourly = _report(store)
    assert "one point per hour" in hourly
    assert "2026-03-01 08:00 UTC, the hour after" in hourly
    assert ">08h<" in hourly or ">1 Mar<" in hourly
    assert "one point per day" in _report(store, "--bucket", "day")


def test_too_many_buckets_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Hourly points over months are refused with advice instead of a huge page."""
    out = _Records()
    out.add("f", START, 1.0)
    out.add("f", START + timedelta(days=60), 1.0)
    store = _write(tmp_path / "long.db", out.records)
    code = main(["report", str(store), "-o", str(tmp_path / "r.html"), "--bucket", "hour"])
    assert code == 2
    assert "too many to chart; use --bucket day" in capsys.readouterr().err
