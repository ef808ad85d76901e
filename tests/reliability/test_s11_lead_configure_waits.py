"""configure() waits at most about a second for a hung sink, however many threads
configure at once.

Changes of the settings take turns under one lock; the wait for the old pipeline's
close was inside it, so with four threads swapping sinks whose close() hangs, the
main thread's configure() waited for all of them in turn (3.95 s).
"""

from __future__ import annotations

import threading
import time

import llmguard as lg


class HungClose:
    """A sink whose close() blocks until released."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def emit(self, batch: object) -> None:
        pass

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self) -> None:
        self.release.wait(30)


@lg.trace
def work() -> int:
    return 1


def test_configure_waits_for_no_other_threads_hung_sinks() -> None:
    release = threading.Event()
    try:
        lg.configure(sinks=[HungClose(release)])
        work()
        start = threading.Barrier(5)
        times: list[float] = []

        def swap() -> None:
            start.wait()
            began = time.monotonic()
            lg.configure(sinks=[HungClose(release)])
            times.append(time.monotonic() - began)
            work()

        threads = [threading.Thread(target=swap) for _ in range(4)]
        for thread in threads:
            thread.start()
        start.wait()
        time.sleep(0.05)  # the four are in configure(), each retiring a hung sink
        began = time.monotonic()
        lg.configure(service="checkout")
        main_waited = time.monotonic() - began
        for thread in threads:
            thread.join(30)
        # Each configure() waits for its own retired pipeline, at most a second; the
        # lock is held only while settings and pipeline change, not during that wait.
        assert main_waited < 1.0, main_waited
        assert max(times) < 2.5, times
    finally:
        release.set()
