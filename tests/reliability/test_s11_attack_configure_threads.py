"""``configure()`` called from many threads at once: no option given is lost."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator

import pytest

import llmguard as lg
from llmguard._delivery.settings import settings


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Threads switch every microsecond, so that configure() calls interleave."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)
        lg.reset()


def _at_once(calls: list[Callable[[], object]]) -> None:
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], object]) -> None:
        barrier.wait()
        call()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.mark.usefixtures("fast_switching")
def test_concurrent_configure_calls_keep_every_option() -> None:
    """Eight threads each set a different option: all eight are in force afterwards."""
    sink = lg.sinks.MemorySink()
    for _ in range(30):
        lg.reset()
        _at_once([
            lambda: lg.configure(sinks=[sink]),
            lambda: lg.configure(service="svc"),
            lambda: lg.configure(sample_rate=0.5),
            lambda: lg.configure(max_content_bytes=4096),
            lambda: lg.configure(batch_size=64),
            lambda: lg.configure(exit_timeout=2.0),
            lambda: lg.configure(capture_content=False),
            lambda: lg.configure(queue_size=500),
        ])  # fmt: skip
        now = settings()
        assert now.sinks == (sink,)
        assert (now.service, now.sample_rate, now.max_content_bytes) == ("svc", 0.5, 4096)
        assert (now.batch_size, now.exit_timeout, now.queue_size) == (64, 2.0, 500)
        assert now.capture_content is False


@pytest.mark.usefixtures("fast_switching")
def test_the_last_sinks_configured_are_the_ones_records_reach() -> None:
    """Threads racing to set sinks: records go to the sinks the settings name."""
    sinks = [lg.sinks.MemorySink() for _ in range(6)]
    for _ in range(20):
        lg.reset()
        _at_once([lambda s=s: lg.configure(sinks=[s]) for s in sinks])  # type: ignore[misc]
        chosen = settings().sinks
        assert chosen is not None
        with lg.span("probe"):
            pass
        lg.flush(timeout=5)
        reached = [s for s in sinks if any(r.name == "probe" for r in s.records)]
        assert reached == list(chosen)
        for s in sinks:
            s.clear()
