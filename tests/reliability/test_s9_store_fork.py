"""`SQLiteSink` in children forked while the parent writes: every child's batch arrives.

Forked in the middle of the parent's transaction, a child inherited SQLite's note that a
connection of its own process held the write lock; its new connection waited for that
lock until the busy timeout and failed with "database is locked"."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from llmguard._core.records import Record
from llmguard.sinks import SQLiteSink

_CHILDREN = 8
_PER_CHILD = 20
# Without the fix a child failed after the 5 s busy timeout, or hung on a lock the
# parent's writing thread held at the fork: a child still running then is killed.
_CHILD_DEADLINE_S = 20.0


def _forked(child: Callable[[], None]) -> int:
    """Start ``child`` in a forked process; its pid."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            child()
            code = 0
        finally:
            os._exit(code)
    return pid


def _exit_codes(pids: list[int]) -> list[int | None]:
    """Each child's exit code, ``None`` for one killed at the deadline."""
    deadline = time.monotonic() + _CHILD_DEADLINE_S
    codes: dict[int, int | None] = {}
    while len(codes) < len(pids) and time.monotonic() < deadline:
        for pid in pids:
            if pid not in codes:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    codes[pid] = os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    for pid in pids:
        if pid not in codes:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            codes[pid] = None
    return [codes[pid] for pid in pids]


def _records(tag: str, count: int) -> list[Record]:
    return [
        Record(
            trace_id=f"{tag}{index:024x}",
            span_id=f"{index:016x}",
            name=tag,
            start="2026-01-01T00:00:00.000000Z",
            end="2026-01-01T00:00:01.000000Z",
            duration_ms=1.0,
            input={"messages": [{"role": "user", "content": "x" * 500}]},
        )
        for index in range(count)
    ]


def test_children_forked_while_the_parent_writes_deliver_every_record(tmp_path: Path) -> None:
    """A parent thread writes batch after batch through the sink; children forked one
    after another meanwhile each write a batch through the same sink object, and every
    child's rows are in the store."""
    path = tmp_path / "store.db"
    sink = SQLiteSink(path)
    sink.emit(_records("ffffffff", 1))
    stop = threading.Event()
    written = [0]

    def parent() -> None:
        while not stop.is_set():
            written[0] += 1
            sink.emit(_records(f"{0x10000000 + written[0]:08x}", 300))

    writer = threading.Thread(target=parent)
    writer.start()
    pids: list[int] = []
    try:
        for child in range(_CHILDREN):
            time.sleep(0.01)
            tag = f"{child:08x}"
            pids.append(_forked(lambda tag=tag: sink.emit(_records(tag, _PER_CHILD))))
        codes = _exit_codes(pids)
    finally:
        stop.set()
        writer.join()
        sink.close()
    assert written[0] > 0
    with sqlite3.connect(path) as conn:
        rows = [
            conn.execute(
                "SELECT count(*) FROM records WHERE name = ?", (f"{child:08x}",)
            ).fetchone()[0]
            for child in range(_CHILDREN)
        ]
    conn.close()
    assert codes == [0] * _CHILDREN
    assert rows == [_PER_CHILD] * _CHILDREN
