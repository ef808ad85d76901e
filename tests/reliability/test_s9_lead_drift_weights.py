"""`llmguard drift` on sample weights whose squares leave the floats' range.

A JSON Lines file can hold any positive weight. The tests' variances divide by squared
weights and totals, which 1e-300 makes zero: the command raised ZeroDivisionError.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from llmguard.cli import main

_START = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
_WINDOWS = ["--baseline", "2026-12-01..2026-12-06", "--current", "2026-12-06..2026-12-10"]


def _write(path: Path, weights: tuple[float, float]) -> None:
    lines = []
    for i in range(400):
        start = _START + dt.timedelta(hours=i / 2)
        record = {
            "schema_version": 1,
            "trace_id": f"{i + 1:032x}",
            "span_id": f"{i + 1:016x}",
            "parent_id": None,
            "kind": "llm",
            "name": "f",
            "start": start.isoformat(),
            "end": (start + dt.timedelta(seconds=1)).isoformat(),
            "duration_ms": 1000.0 + i,
            "status": "error" if i % 5 == 0 else "ok",
            "sample_weight": weights[i % 2],
        }
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")


def test_tiny_weights_are_said_not_compared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tiny.jsonl"
    _write(path, (1e-300, 2e-300))
    assert main(["drift", str(path), *_WINDOWS]) == 0
    out = capsys.readouterr().out
    assert "f: latency p50 not compared (sample weights too small or too large to square)" in out
    assert "f: failure rate not compared" in out


def test_ordinary_weights_are_compared_as_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plain.jsonl"
    _write(path, (1.0, 4.0))
    assert main(["drift", str(path), *_WINDOWS]) == 1
    out = capsys.readouterr().out
    assert "latency p50" in out
    assert "not compared" not in out
