"""Sinks written against llmguard: a ``name`` that raises, an ``emit`` or ``flush`` that
cannot even be looked up. The application's calls never see it, and the other batches
and sinks are delivered."""

from __future__ import annotations

from collections.abc import Sequence

import llmguard as lg
from llmguard.sinks import MemorySink


class NamelessSink:
    """Its ``name`` property raises; otherwise a list of the records it got."""

    def __init__(self) -> None:
        self.names: list[str] = []

    @property
    def name(self) -> str:
        raise ValueError("no name today")

    def emit(self, batch: Sequence[lg.Record]) -> None:
        self.names.extend(r.name for r in batch)

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self) -> None:
        pass


@lg.trace
def answer() -> int:
    return 42


def test_a_sink_whose_name_raises_fails_no_call_and_still_gets_its_records() -> None:
    """The lane read the name when the pipeline was made, on the first traced call:
    that call raised the sink's ValueError, and so did every later one and flush."""
    sink = NamelessSink()
    lg.configure(sinks=[sink])
    assert answer() == 42
    result = lg.flush(timeout=10)
    assert result.complete
    assert sink.names == ["answer"]
    assert [s.name for s in lg.stats().sinks] == ["NamelessSink"]


class FlakyLookupSink:
    """``emit`` and ``flush`` are properties that raise on their first lookup."""

    name = "flaky"

    def __init__(self) -> None:
        self.names: list[str] = []
        self._emit_looked_up = False
        self._flush_looked_up = False

    @property
    def emit(self):  # type: ignore[no-untyped-def]
        if not self._emit_looked_up:
            self._emit_looked_up = True
            raise RuntimeError("emit is not ready")
        return self._emit

    def _emit(self, batch: Sequence[lg.Record]) -> None:
        self.names.extend(r.name for r in batch)

    @property
    def flush(self):  # type: ignore[no-untyped-def]
        if not self._flush_looked_up:
            self._flush_looked_up = True
            raise RuntimeError("flush is not ready")
        return lambda timeout=None: None

    def close(self) -> None:
        pass


def test_a_sink_method_that_cannot_be_looked_up_costs_one_batch_not_the_lane() -> None:
    """Looking ``emit`` up raised on the lane's thread, outside the guard around the
    call: the lane's thread died, and every later record waited for it forever."""
    sink = FlakyLookupSink()
    other = MemorySink()
    lg.configure(sinks=[sink, other])
    assert answer() == 42
    lg.flush(timeout=10)
    assert answer() == 42
    result = lg.flush(timeout=10)
    assert result.pending == 0
    assert sink.names == ["answer"]
    assert [r.name for r in other.records if r.kind != "internal"] == ["answer", "answer"]
    (flaky,) = [s for s in lg.stats().sinks if s.name == "flaky"]
    assert (flaky.delivered, flaky.dropped) == (1, 1)
