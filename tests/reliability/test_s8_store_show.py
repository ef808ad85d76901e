"""Attacks on ``llmguard show``: spans whose parents form a cycle, and very deep traces."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmguard._core.records import Record
from llmguard.cli import main
from llmguard.cli._show import render

_TRACE = "ab" * 16


def _span(span_id: str, parent_id: str | None, name: str = "step") -> Record:
    return Record(
        trace_id=_TRACE,
        span_id=span_id,
        parent_id=parent_id,
        name=name,
        start="2026-01-01T00:00:00.000000Z",
        end="2026-01-01T00:00:01.000000Z",
        duration_ms=1000.0,
    )


def _write(path: Path, records: list[Record]) -> None:
    path.write_bytes(b"".join(record.to_json() + b"\n" for record in records))


def test_spans_in_a_parent_cycle_are_all_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two spans each other's parent, a span its own parent and one whose parent is
    missing: the tree shows all four, each once, and the command ends."""
    path = tmp_path / "cycle.jsonl"
    _write(
        path,
        [
            _span("a" * 16, "b" * 16, "first"),
            _span("b" * 16, "a" * 16, "second"),
            _span("c" * 16, "c" * 16, "own-parent"),
            _span("d" * 16, "e" * 16, "orphan"),
        ],
    )
    assert main(["show", str(path), _TRACE]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    names = [line.lstrip("├└─│ ").split("  ")[0] for line in lines]
    assert sorted(names) == ["first", "orphan", "own-parent", "second"]


def test_a_trace_ten_thousand_spans_deep_is_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A chain of 10,000 spans (ten times Python's recursion limit), each the parent of
    the next, prints one line per span instead of exceeding the limit, and the
    indentation stops growing (a line per level of a growing indent would be 150 MB):
    the deep lines say their depth."""
    spans = [_span(f"{0:016x}", None)] + [
        _span(f"{i:016x}", f"{i - 1:016x}") for i in range(1, 10_000)
    ]
    path = tmp_path / "deep.jsonl"
    _write(path, spans)
    assert main(["show", str(path), _TRACE]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert len(lines) == 1 + 10_000
    assert max(map(len, lines)) < 300
    assert lines[-1].startswith(" " * 3 * 31 + "└─ (depth 9999) step  [span]")


_IDS = [f"{i:016x}" for i in range(6)]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_IDS), st.none() | st.sampled_from(_IDS)), max_size=8))
def test_every_record_is_drawn_exactly_once(links: list[tuple[str, str | None]]) -> None:
    """Whatever the parent links (cycles, duplicates, missing parents), each record of
    the trace is one line of the tree."""
    records = [_span(span_id, parent, f"r{index}") for index, (span_id, parent) in enumerate(links)]
    if not records:
        return
    lines = render(records).splitlines()[1:]
    names = sorted(line.lstrip("├└─│ ").split("  ")[0] for line in lines)
    assert names == sorted(f"r{index}" for index in range(len(records)))
