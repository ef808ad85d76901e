"""A fork made by the thread writing a batch (from an application's sqlite3 adapter, or
a signal handler, running inside `SQLiteSink.emit`) does not wait for that write: the
write cannot end before the fork does, and the fork stalled the whole 5 s busy timeout
in `sinks._fork`'s before-fork handler."""

from __future__ import annotations

import gc
import os
import sqlite3
import threading
import warnings
from pathlib import Path
from types import TracebackType

import pytest

from llmguard.sinks import SQLiteSink, _fork
from tests._helpers.cli_stores import _records


class _Recording:
    """A lock noting every acquire with a timeout (the before-fork handler's), by thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waits: list[int] = []

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if timeout != -1:
            self.waits.append(threading.get_ident())
        return self.lock.acquire(blocking, timeout)

    def release(self) -> None:
        self.lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_fork_from_inside_the_write_does_not_wait_for_it(tmp_path: Path) -> None:
    """An adapter forking while the sink writes: the fork asks nothing of the lock its
    own thread holds, the child runs, and the parent's batch is written whole."""
    sink = SQLiteSink(tmp_path / "calls.db")
    sink.emit(_records()[:1])
    recording = _Recording()
    sink._lock = recording  # type: ignore[assignment]
    children: list[int] = []

    def forking(value: str) -> str:
        if not children:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child
                os._exit(7)
            children.append(pid)
        return value

    sqlite3.register_adapter(str, forking)
    try:
        sink.emit(_records()[1:])
    finally:
        del sqlite3.adapters[(str, sqlite3.PrepareProtocol)]
    (child,) = children
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 7
    assert threading.get_ident() not in recording.waits
    sink.close()
    with sqlite3.connect(tmp_path / "calls.db") as conn:
        assert conn.execute("SELECT count(*) FROM records").fetchone() == (len(_records()),)
    conn.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_fork_from_another_thread_still_waits_for_the_write(tmp_path: Path) -> None:
    """A fork from a thread that is not writing still asks for the sink's lock, so it
    waits for a batch another thread is writing."""
    sink = SQLiteSink(tmp_path / "calls.db")
    recording = _Recording()
    sink._lock = recording  # type: ignore[assignment]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os._exit(0)
    os.waitpid(pid, 0)
    assert recording.waits == [threading.get_ident()]
    sink.close()


def test_two_threads_forking_at_once_each_release_only_their_own_locks(
    tmp_path: Path,
) -> None:
    """Thread A's fork holds the sink's lock; thread B's fork, waiting for it, gives up;
    B's fork ending must not release the lock A still holds for its own fork (it did:
    the locks taken were one list for every forking thread)."""
    gc.collect()  # no other test's sink left to set a longer bound
    sink = SQLiteSink(tmp_path / "calls.db")
    _fork.finish_writes_before_fork(sink, 0.05)
    a_ready = threading.Event()
    a_may_end = threading.Event()

    def forking_a() -> None:
        _fork._before_fork()
        a_ready.set()
        a_may_end.wait(10)
        _fork._release_in_parent()

    a = threading.Thread(target=forking_a)
    a.start()
    try:
        assert a_ready.wait(10)
        _fork._before_fork()  # B: waits 0.05 s for the lock A holds, and goes ahead
        _fork._release_in_parent()
        assert sink._lock.locked()
    finally:
        a_may_end.set()
        a.join(10)
    assert not sink._lock.locked()
    sink.close()
