"""configure()'s lock and a fork: a child forked while a thread is inside configure().

configure() holds a lock while the old pipeline retires (up to a second when a sink's
close is slow). A process that forks in that second -- a worker pool starting -- gave
its child the lock held by a thread the child does not have: the child's first
configure() waited forever.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

_CHILD_CONFIGURES = textwrap.dedent(
    """
    import os, sys, threading, time
    import llmguard as lg

    closing, release = threading.Event(), threading.Event()

    class SlowClose(lg.sinks.MemorySink):
        def close(self) -> None:
            closing.set()
            release.wait(10)

    lg.configure(sinks=[SlowClose()], exit_timeout=3.0)
    with lg.span("before"):
        pass
    lg.flush(timeout=5)
    swapper = threading.Thread(target=lambda: lg.configure(sinks=[lg.sinks.MemorySink()]))
    swapper.start()
    assert closing.wait(10)
    pid = os.fork()
    if pid == 0:
        lg.configure(service="child")
        with lg.span("in-child"):
            pass
        os._exit(0 if lg.flush(timeout=5).complete else 3)
    release.set()
    swapper.join()
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            print("child exit", os.waitstatus_to_exitcode(status))
            break
        time.sleep(0.02)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        print("child hung in configure()")
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_while_a_thread_is_in_configure_can_configure() -> None:
    """The child's configure() returns, and its record is delivered."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD_CONFIGURES],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.strip().splitlines()[-1:] == ["child exit 0"], done.stderr[-2000:]
