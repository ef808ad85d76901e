"""Shared fixtures: every test starts from llmguard's default settings."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import llmguard as lg
from llmguard import pricing
from llmguard._spend import tokens as _tokens

# The helpers' asserts report like the tests' own: rewritten, as long as this runs
# before the first import of tests._helpers (conftest.py is loaded before any test).
pytest.register_assert_rewrite("tests._helpers")

# What is alive now (pytest, its plugins, llmguard) lives to the end: out of the garbage
# collector's full passes. The collector then rests until collection is over: importing
# the test modules (and rewriting their asserts) makes some 400,000 objects that live to
# the end and next to no cyclic garbage, yet it set off a collection every 700
# allocations: a quarter to a third of the CPU each pytest-xdist worker spends collecting.
gc.collect()
gc.freeze()
gc.disable()


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Iterator[object]:
    """Take what collection left alive out of the garbage collector's full passes.

    Collecting imports thousands of modules (the SDKs, hypothesis, pydantic): some
    400,000 objects that live until the end. Every full collection during the tests
    walked all of them again, some fifty times per worker; frozen, they are skipped.
    The objects the tests create are collected as before: the collector is back on
    here, also in pytest-xdist's controller, which collects nothing.
    """
    try:
        return (yield)
    finally:
        gc.collect()
        gc.freeze()
        gc.enable()


# The o200k_base and cl100k_base encoding files, as tiktoken caches them (by URL hash).
TIKTOKEN_DATA = Path(__file__).resolve().parent / "data" / "tiktoken"


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
    tracer = sys.gettrace()
    yield
    lg.reset()
    pricing.reset()
    # A test that sets a trace function on its own thread and clears it takes coverage's
    # tracer away from every later test of its worker: hold such a tracer on a thread of
    # the test's own.
    assert sys.gettrace() is tracer, "the test changed its thread's trace function"


@pytest.fixture
def sink() -> Iterator[ListSink]:
    """A list sink configured as the only sink."""
    list_sink = ListSink()
    lg.configure(sinks=[list_sink])
    return list_sink


@pytest.fixture
def tiktoken_files(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Real encoding files from tests/data, and no encoding cached from another test.

    Modules that count tokens exactly use it for every test:
    ``pytestmark = pytest.mark.usefixtures("tiktoken_files")``.
    """
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(TIKTOKEN_DATA))
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)
    _tokens._reset_cache()
    yield TIKTOKEN_DATA
    _tokens._reset_cache()
