"""A timeout too long for the platform's clock waits as long as it takes.

``threading`` refuses waits longer than ``threading.TIMEOUT_MAX`` (OverflowError);
``lg.flush(1e300)`` and ``lg.shutdown(1e300)`` passed the number through and raised it
into the application.
"""

from __future__ import annotations

import threading

import pytest

import llmguard as lg
from tests.conftest import ListSink


@pytest.mark.parametrize("timeout", [threading.TIMEOUT_MAX * 2, 1e300])
def test_flush_and_shutdown_take_any_long_timeout(timeout: float) -> None:
    sink = ListSink()
    lg.configure(sinks=[sink])

    @lg.trace
    def work() -> int:
        return 1

    work()
    flushed = lg.flush(timeout=timeout)
    work()
    shut = lg.shutdown(timeout=timeout)

    assert flushed.complete
    assert shut.complete
    assert len(sink.records) == 2
    assert sink.closed
