"""examples/partial_stream.py runs offline: partials printed as they arrive, reset on re-ask."""

from __future__ import annotations

import asyncio
import runpy
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "partial_stream.py"


def test_the_example_prints_partials_then_the_reasked_final_report(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The title grows, the refused answer is followed by a reset, the final report is valid."""
    namespace = runpy.run_path(str(EXAMPLE), run_name="partial_stream_example")
    report = namespace["main"]()
    assert [(line.item, line.quantity) for line in report.lines] == [("screen", 2), ("charger", 3)]
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("[attempt 1] 'Weekl' | None")
    reset = printed.index("--- the answer was refused; the model writes it again ---")
    assert printed[reset - 1].endswith("screen x2, charger x0")
    assert printed[reset + 1].startswith("[attempt 2]")
    assert printed[-1].startswith("[final] 'Weekly order'")
    assert asyncio.run(namespace["amain"]()) == report
