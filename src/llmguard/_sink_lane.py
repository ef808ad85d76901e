"""A sink's lane: its own backlog of batches and the thread that feeds them to it."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llmguard._delivery_stats import SinkStats
from llmguard.sinks._protocol import sink_name

if TYPE_CHECKING:
    from llmguard._pipeline import _Pipeline
    from llmguard._records import Record
    from llmguard.sinks import Sink


class _FlushMark:
    __slots__ = ("done", "timeout")

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self.done = threading.Event()


class _Lane:
    """One sink, its backlog of batches and the thread that feeds it."""

    def __init__(self, sink: Sink, pipeline: _Pipeline, max_pending: int) -> None:
        self.sink = sink
        self.name = sink_name(sink)
        self._pipeline = pipeline
        self._max_pending = max_pending
        self._backlog: collections.deque[list[Record] | _FlushMark] = collections.deque()
        self._cond = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._closing = False
        self.pending = 0
        self.delivered = 0
        self.dropped = 0
        self.errors = 0
        self.busy_since: float | None = None
        self.reported_stall = False

    def stats(self) -> SinkStats:
        return SinkStats(self.name, self.delivered, self.dropped, self.errors, self.pending)

    def offer(self, batch: list[Record]) -> None:
        with self._cond:
            if self.pending + len(batch) > self._max_pending:
                self.dropped += len(batch)
                return
            self.pending += len(batch)
            self._backlog.append(batch)
            self._ensure_thread()
            self._cond.notify()

    @property
    def started(self) -> bool:
        return self._thread is not None

    def request_flush(self, timeout: float | None) -> threading.Event:
        mark = _FlushMark(timeout)
        with self._cond:
            self._backlog.append(mark)
            self._ensure_thread()
            self._cond.notify()
        return mark.done

    def stop(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"llmguard-sink-{self.name}", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._backlog and not self._closing:
                    self._cond.wait()
                if not self._backlog:
                    return
                item = self._backlog.popleft()
            if isinstance(item, _FlushMark):
                self._call("flush", self.sink.flush, item.timeout)
                item.done.set()
                continue
            ok = self._call("emit", self.sink.emit, item)
            with self._cond:
                self.pending -= len(item)
                if ok:
                    self.delivered += len(item)
                else:
                    self.errors += 1
                    self.dropped += len(item)

    def _call(self, what: str, method: Callable[[Any], None], argument: Any) -> bool:
        self.busy_since = time.monotonic()
        try:
            method(argument)
        except Exception as exc:
            self._pipeline.report(f"sink {self.name!r} failed in {what}()", exc, skip=self)
            return False
        finally:
            self.busy_since = None
            self.reported_stall = False
        return True
