"""A sink writing between a command's two steps (finding rows, then reading their JSON by
id) no longer makes the command crash or show another span's record: since a span's
later copy replaces its row, that row's id may be gone, or given to another span."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest

import llmguard.cli._dataset as dataset_module
from llmguard._core.records import Record
from llmguard.cli._dataset import Dataset
from llmguard.sinks import SQLiteSink
from tests._helpers.cli_stores import _call


def _writing_between(
    monkeypatch: pytest.MonkeyPatch, sink: SQLiteSink, batch: list[Record]
) -> None:
    """Make the sink write ``batch`` right after a command has found its rows."""
    found_rows = dataset_module._rowids

    def found_then_written(conn: object, clause: str, params: Sequence[object]) -> object:
        found = found_rows(conn, clause, params)  # type: ignore[arg-type]
        sink.emit(batch)
        return found

    monkeypatch.setattr(dataset_module, "_rowids", found_then_written)


@pytest.mark.parametrize("second_connection", [False, True])
def test_a_row_id_given_to_another_span_shows_the_span_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, second_connection: bool
) -> None:
    """The slowest call is written again after a new call, which takes its old row id:
    the command shows that call's later copy, not the new one."""
    path = tmp_path / "calls.db"
    sink = SQLiteSink(path)
    slowest = _call(3, "a", 900.0)
    sink.emit([_call(1, "a", 10.0), _call(2, "a", 20.0), slowest])
    again = dataclasses.replace(slowest, status="error", error_type="TimeoutError")
    _writing_between(monkeypatch, sink, [_call(4, "b", 1.0), again])
    with Dataset.open(path, second_connection=second_connection) as dataset:
        dataset.prefetch_calls(order_by="duration_ms", limit=1)
        (shown,) = dataset.calls(order_by="duration_ms", limit=1)
    sink.close()
    assert (shown.span_id, shown.status) == (slowest.span_id, "error")


def test_a_row_gone_since_it_was_found_is_read_as_its_later_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trace's span is written again (its row goes, a new one comes at the end) while
    ``show`` reads the trace: every span is shown once, the later copy, no error."""
    path = tmp_path / "calls.db"
    sink = SQLiteSink(path)
    trace = [_call(n, "a", 10.0 * n, trace_id="f" * 32) for n in (1, 2, 3)]
    sink.emit(trace)
    _writing_between(monkeypatch, sink, [dataclasses.replace(trace[1], name="renamed")])
    with Dataset.open(path) as dataset:
        shown = dataset.trace("f" * 32)
        assert dataset.unreadable_rows == 0
    sink.close()
    assert sorted((r.span_id, r.name) for r in shown) == [
        (trace[0].span_id, "a"),
        (trace[1].span_id, "renamed"),
        (trace[2].span_id, "a"),
    ]
