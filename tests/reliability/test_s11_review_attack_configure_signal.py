"""A signal handler calling configure() while the main thread is inside configure().

Say SIGHUP reloads the service name. The handler runs on the main thread, between two
steps of the configure() it interrupts; the lock is reentrant, so it goes through --
and the interrupted call, which had read the settings before, put them back without
the handler's change.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

import llmguard as lg
from llmguard.redact import Patterns


class _SignalsWhileWarming(Patterns):
    """A redactor whose first warm-up, run inside configure(), raises SIGUSR1 at itself."""

    signalled = False

    def redact(self, text: str) -> tuple[str, dict[str, int]]:
        if text == "warm 0 @" and not self.signalled:
            self.signalled = True
            os.kill(os.getpid(), signal.SIGUSR1)
        return super().redact(text)


@pytest.fixture
def reloads_on_sigusr1() -> Iterator[list[str | None]]:
    """SIGUSR1 sets the service name through configure(); yields what the handler saw."""
    seen: list[str | None] = []

    def reload(signum: int, frame: FrameType | None) -> None:
        seen.append(lg.configure(service="reloaded").service)

    before = signal.signal(signal.SIGUSR1, reload)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGUSR1, before)
        lg.reset()


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1")
def test_a_signal_handlers_configure_inside_configure_is_kept(
    reloads_on_sigusr1: list[str | None],
) -> None:
    """Both changes are in force afterwards, and records carry the handler's service."""
    sink = lg.sinks.MemorySink()
    redactor = _SignalsWhileWarming({"ticket": r"TICKET-\d+"})
    returned = lg.configure(sinks=[sink], redact=[redactor], sample_rate=1.0)
    assert reloads_on_sigusr1 == ["reloaded"]
    assert (returned.service, returned.sinks) == ("reloaded", (sink,))
    now = lg.configure()
    assert (now.service, now.sinks, now.redact) == ("reloaded", (sink,), (redactor,))
    with lg.span("after"):
        pass
    assert lg.flush(timeout=5).complete
    assert [(r.name, r.service) for r in sink.records] == [("after", "reloaded")]
