"""Delivery: from a finished span to every sink, off the caller's thread.

The caller's only work is to append the finished span to a bounded deque. One
dispatcher thread turns spans into records (redaction, content bounds) and hands each
batch to every sink's *lane*: a small backlog with its own thread, so a sink that is
slow, raises or hangs delays nobody -- not the application, not the other sinks.
Whatever does not fit in a bound is dropped and counted, so memory stays bounded
whatever the sinks do.
"""

from __future__ import annotations

import atexit
import collections
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from llmguard._core.records import Record
from llmguard._delivery import settings as _config
from llmguard._delivery.processing import error_message, internal_record, process
from llmguard._delivery.processing import sample as sample
from llmguard._delivery.stats import DeliveryStats, FlushResult, Pending, SinkStats

if TYPE_CHECKING:
    from llmguard._core.records import Record
    from llmguard._delivery.settings import Settings
    from llmguard.sinks import Sink

__all__ = [
    "DeliveryStats",
    "FlushResult",
    "Pending",
    "SinkStats",
    "capturing",
    "flush",
    "listening",
    "report",
    "sink_name",
    "settings_changed",
    "shutdown",
    "stats",
    "submit",
]

logger = logging.getLogger("llmguard")

_WAKE_INTERVAL = 0.5  # seconds the dispatcher sleeps when fewer than a batch are waiting
_WARN_INTERVAL = 60.0  # seconds between two warnings about the same trouble
_HANG_AFTER = 10.0  # seconds in one sink call before the sink is reported as stalled


class _Warner:
    """Logs a warning about one kind of trouble at most once a minute, with a count."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._suppressed: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def __call__(self, key: str, message: str) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < _WARN_INTERVAL:
                self._suppressed[key] += 1
                return False
            self._last[key] = now
            more = self._suppressed.pop(key, 0)
        suffix = f" ({more} more since the last warning)" if more else ""
        logger.warning("%s%s", message, suffix)
        return True


class _Pipeline:
    """The queue, the dispatcher thread and the sinks' lanes for one set of sinks."""

    def __init__(self, sinks: Sequence[Sink], settings: Settings) -> None:
        self.sinks = tuple(sinks)
        self._settings = settings
        self._reset_state()

    def _reset_state(self) -> None:
        # Also the at-fork reset: a child starts with fresh locks and no threads, and
        # leaves the parent's queued records to the parent.
        self._warn = _Warner()
        self._queue: collections.deque[Pending] = collections.deque()
        self._lanes = tuple(_Lane(s, self, self._settings.queue_size) for s in self.sinks)
        self._wake = threading.Event()
        self._progress = threading.Condition(threading.Lock())
        self._drop_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self.taken = 0  # records the dispatcher has popped from the queue
        self.done = 0  # records it has finished handing to every lane
        self.dropped = 0
        self.internal_errors = 0

    def update(self, settings: Settings) -> None:
        self._settings = settings

    # -- the caller's side ------------------------------------------------------

    def submit(self, item: Pending) -> None:
        queue = self._queue
        if len(queue) >= self._settings.queue_size:
            with self._drop_lock:
                self.dropped += 1
            self._warn("queue-full", "llmguard's delivery queue is full; records are dropped")
            return
        queue.append(item)
        if self._thread is None:
            self._start()
        elif len(queue) >= self._settings.batch_size and not self._wake.is_set():
            self._wake.set()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._closed:
                thread = threading.Thread(target=self._run, name="llmguard-delivery", daemon=True)
                thread.start()
                self._thread = thread

    # -- the dispatcher ------------------------------------------------------------

    def _run(self) -> None:
        queue = self._queue
        while True:
            self._wake.wait(_WAKE_INTERVAL)
            self._wake.clear()
            while queue:
                # Popping and counting under the lock lets flush() see every record as
                # either still queued or taken, never in between.
                with self._progress:
                    count = min(self._settings.batch_size, len(queue))
                    items = [queue.popleft() for _ in range(count)]
                    self.taken += count
                batch = [r for r in map(self._finish, items) if r is not None]
                if batch:
                    for lane in self._lanes:
                        lane.offer(batch)
                with self._progress:
                    self.done += count
                    self._progress.notify_all()
            self._check_stalls()
            if self._closed and not queue:
                return

    def _finish(self, item: Pending) -> Record | None:
        try:
            return process(item.to_record(self._settings), self._settings, self.report)
        except Exception as exc:
            with self._drop_lock:
                self.internal_errors += 1
            self.report("a trace record could not be built and was dropped", exc)
            return None

    def _check_stalls(self) -> None:
        now = time.monotonic()
        for lane in self._lanes:
            since = lane.busy_since
            if since is not None and now - since > _HANG_AFTER and not lane.reported_stall:
                lane.reported_stall = True
                self.report(f"sink {lane.name!r} has been stalled for {now - since:.0f} s", None)

    def report(self, problem: str, exc: BaseException | None, skip: _Lane | None = None) -> None:
        """Warn (rate-limited) and tell the other sinks through an ``internal`` record."""
        detail = f": {type(exc).__name__}: {error_message(exc)}" if exc else ""
        if not self._warn(problem, f"llmguard: {problem}{detail}"):
            return
        record = internal_record(problem, exc, self._settings)
        for lane in self._lanes:
            if lane is not skip:
                lane.offer([record])

    # -- flush and shutdown ----------------------------------------------------------

    def stats(self) -> DeliveryStats:
        queued = len(self._queue)
        return DeliveryStats(
            emitted=self.taken + queued + self.dropped,
            queued=queued,
            dropped=self.dropped,
            internal_errors=self.internal_errors,
            sinks=tuple(lane.stats() for lane in self._lanes),
        )

    def flush(self, timeout: float | None) -> FlushResult:
        deadline = None
        if timeout is not None and math.isfinite(timeout):
            deadline = time.monotonic() + max(timeout, 0.0)
        if self._thread is not None:
            with self._progress:
                target = self.taken + len(self._queue)
                self._wake.set()
                while self.done < target:
                    left = _left(deadline)
                    if left == 0.0 or not self._thread.is_alive():
                        break
                    self._progress.wait(left)
        marks = [lane.request_flush(_left(deadline)) for lane in self._lanes if lane.started]
        for done in marks:
            done.wait(_left(deadline))
        sinks = tuple(lane.stats() for lane in self._lanes)
        in_hand = self.taken - self.done
        pending = len(self._queue) + in_hand + sum(s.pending for s in sinks)
        return FlushResult(complete=pending == 0, pending=pending, sinks=sinks)

    def close(self, timeout: float | None, keep: Sequence[Sink] = ()) -> FlushResult:
        result = self.flush(timeout)
        self._closed = True
        self._wake.set()
        for lane in self._lanes:
            lane.stop()
            if any(lane.sink is k for k in keep):
                continue
            try:
                lane.sink.close()
            except Exception as exc:
                self.report(f"sink {lane.name!r} failed in close()", exc, skip=lane)
        return result


def _left(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    return max(deadline - time.monotonic(), 0.0)


# -- the process-wide pipeline ---------------------------------------------------------

_active: _Pipeline | None = None
_active_lock = threading.Lock()
_captures: list[list[Record]] = []
_captures_lock = threading.Lock()


def _pipeline() -> _Pipeline:
    global _active
    current = _active
    if current is None:
        with _active_lock:
            current = _active
            if current is None:
                settings = _config.settings()
                sinks = settings.sinks if settings.sinks is not None else _config.sinks_from_env()
                current = _active = _Pipeline(sinks, settings)
    return current


def submit(item: Pending) -> None:
    """Hand a finished span to delivery; the only call on the application's hot path."""
    if _captures:
        _capture(item)
    pipeline = _active or _pipeline()
    if not pipeline.sinks:
        return
    if pipeline._settings.strict:
        record = process(item.to_record(pipeline._settings), pipeline._settings, pipeline.report)
        if record is not None:
            for sink in pipeline.sinks:
                sink.emit([record])
        return
    pipeline.submit(item)


def report(problem: str, exc: BaseException | None) -> None:
    """Warn (rate-limited) about ``problem`` and send an ``internal`` record to every sink."""
    _pipeline().report(problem, exc)


def listening() -> bool:
    """Whether a record handed over now would reach anyone: a sink or a `capturing` block."""
    return bool(_captures) or bool((_active or _pipeline()).sinks)


def _capture(item: Pending) -> None:
    settings = _config.settings()
    try:
        record = process(item.to_record(settings), settings, _pipeline().report)
    except Exception:
        if settings.strict:
            raise
        logger.exception("llmguard: a captured record could not be built")
        return
    if record is None:
        return
    with _captures_lock:
        for bucket in _captures:
            bucket.append(record)


class capturing:
    """Collect every record finished while the block runs, synchronously."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def __enter__(self) -> list[Record]:
        with _captures_lock:
            _captures.append(self.records)
        return self.records

    def __exit__(self, *exc_info: object) -> None:
        with _captures_lock:
            _captures.remove(self.records)


def stats() -> DeliveryStats:
    """Delivery counts: emitted, queued, dropped, and per sink delivered, dropped, errors."""
    return _pipeline().stats()


def flush(timeout: float | None = 5.0) -> FlushResult:
    """Deliver every record emitted so far, waiting at most ``timeout`` seconds.

    Args:
        timeout: Seconds to wait; ``None`` waits as long as it takes.

    Returns:
        A `FlushResult`, true when everything was delivered; otherwise it says
        how many records are still pending and at which sinks.
    """
    return _pipeline().flush(timeout)


def shutdown(timeout: float | None = 5.0) -> FlushResult:
    """Flush, then close every sink. Records emitted afterwards start a new pipeline."""
    global _active
    with _active_lock:
        current, _active = _active, None
    if current is None:
        return FlushResult(complete=True, pending=0, sinks=())
    return current.close(timeout)


def settings_changed(old: Settings, new: Settings, rebuild: bool) -> None:
    """Called by ``configure()``: swap the pipeline when the sinks change or on reset."""
    global _active
    with _active_lock:
        current = _active
        if current is None:
            return
        if not rebuild and new.sinks is old.sinks and new.queue_size == old.queue_size:
            current.update(new)
            return
        _active = None
    keep = new.sinks or ()
    current.close(min(new.exit_timeout, 5.0), keep=keep)


def _at_exit() -> None:
    if _active is not None:
        result = shutdown(_config.settings().exit_timeout)
        if not result.complete:
            logger.warning("llmguard: %d trace records were not delivered at exit", result.pending)


def _after_fork_in_child() -> None:
    global _active_lock, _captures_lock
    _active_lock = threading.Lock()
    _captures_lock = threading.Lock()
    if _active is not None:
        _active._reset_state()


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# -- A sink's lane: its own backlog of batches and the thread that feeds them to it.


def sink_name(sink: object) -> str:
    """The name a sink goes by in stats and warnings: its ``name`` or its class name."""
    name = getattr(sink, "name", None)
    return name if isinstance(name, str) else type(sink).__name__


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
