"""Shared fixtures: every test starts from llmguard's default settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import llmguard as lg
from llmguard import pricing


class ListSink:
    """A minimal sink for core tests that must not depend on llmguard.sinks."""

    def __init__(self) -> None:
        self.records: list[lg.Record] = []
        self.flushes = 0
        self.closed = False

    def emit(self, batch: object) -> None:
        self.records.extend(batch)  # type: ignore[call-overload]

    def flush(self, timeout: float | None = None) -> None:
        self.flushes += 1

    def close(self) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def _fresh_llmguard(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Reset settings, the pipeline and the price table around each test, with no sink
    from the env."""
    monkeypatch.delenv("LLMGUARD_SINK", raising=False)
    lg.reset()
    pricing.reset()
    yield
    lg.reset()
    pricing.reset()


@pytest.fixture
def sink() -> Iterator[ListSink]:
    """A list sink configured as the only sink."""
    list_sink = ListSink()
    lg.configure(sinks=[list_sink])
    return list_sink
