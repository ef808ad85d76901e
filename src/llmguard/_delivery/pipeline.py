"""Delivery: from a finished span to every sink, off the caller's thread.

The caller's only work is to append the finished span to a bounded deque. One
dispatcher thread turns spans into records (content bounds, redaction) and hands each
batch to every sink's *lane*: a small backlog with its own thread, so a sink that is
slow, raises or hangs delays nobody -- not the application, not the other sinks.
Whatever does not fit in a bound (records, and bytes: ``max_queue_bytes``) is dropped
and counted, so memory stays bounded whatever the sinks do or the content holds.

Every record handed over is, at every instant, in exactly one place for each sink:
queued, in flight (taken by the dispatcher), dropped before any sink, sampled out, or
delivered, pending or dropped at that sink -- `stats` reads them all at once.
"""

from __future__ import annotations

import atexit
import collections
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from llmguard._core.content import json_size
from llmguard._core.records import Record, build_serializer, replaced
from llmguard._delivery import settings as _config
from llmguard._delivery.finished import Finished, build
from llmguard._delivery.processing import (
    Staged,
    internal_record,
    process,
    redact_all,
    splices,
    stage,
)
from llmguard._delivery.stats import DeliveryStats, FlushResult, Pending, SinkStats
from llmguard.exceptions import PartiallyDelivered
from llmguard.redact import Patterns

if TYPE_CHECKING:
    from llmguard._delivery.settings import Settings
    from llmguard.sinks import Sink

__all__ = [
    "DeliveryStats",
    "FlushResult",
    "Pending",
    "SinkStats",
    "before_exit",
    "capturing",
    "flush",
    "listening",
    "report",
    "sink_name",
    "settings_changed",
    "shutdown",
    "stats",
    "submit",
    "warm",
]

logger = logging.getLogger("llmguard")

_WAKE_INTERVAL = 0.5  # seconds the dispatcher sleeps when fewer than a batch are waiting
_WARN_INTERVAL = 60.0  # seconds between two warnings about the same trouble
_HANG_AFTER = 10.0  # seconds in one sink call before the sink is reported as stalled
# Seconds the dispatcher waits for a working sink to make room in its full backlog: long
# enough for a sink that keeps up to take what it has, too short to let a stuck one slow
# the others (a sink in one call for longer than this is not waited for at all).
_PATIENCE = 0.1
# Seconds configure() waits for the sinks it replaces to take what they are owed and
# close; what is left goes on in the background, within exit_timeout.
_RETIRE_WAIT = 1.0
# What shutdown keeps of its timeout for closing the sinks after flushing them: at
# most this, and at most a tenth of the timeout.
_CLOSE_SHARE = 0.2
_RECORD_BYTES = 1024  # bytes a record holds besides its content
# Spans the dispatcher takes at a time. Everything a record is made of stays alive from
# its build until its sink has it; the garbage collector promotes whatever is alive at
# its frequent young passes, and each promoted object costs a share of the next full
# pass. So records go through in small chunks, a few hundred young objects (below the
# collector's default threshold of 700), and a lane that falls behind joins the chunks
# waiting in its backlog into batches of up to ``batch_size`` for its sink.
_CHUNK = 64
_BROKEN = -1  # the size `_Pipeline._process` gives a record that could not be built
_NEVER = float("inf")
# Why a record's content was left out (`Pending.shed_content`).
_TOO_LARGE = "larger than the delivery queue holds (half of max_queue_bytes)"


def _delivered_before(failure: BaseException, count: int) -> int:
    """How many of a batch of ``count`` a sink that raised ``failure`` delivered: what a
    `PartiallyDelivered` says, held to the batch, and none for anything else (or for a
    claim that is no int by now: set after the check in its ``__init__``, a property)."""
    claimed = failure.__dict__.get("delivered") if isinstance(failure, PartiallyDelivered) else 0
    return min(max(claimed, 0), count) if type(claimed) is int else 0


class _Warner:
    """Logs a warning about one kind of trouble at most once a minute, with a count."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._suppressed: collections.Counter[str] = collections.Counter()
        # Reentrant: a signal handler's dropped span may be warned about on a thread
        # that is in here already.
        self._lock = threading.RLock()

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
        _hold(self.sinks)
        self._reset_state()

    def _reset_state(self) -> None:
        # Also the at-fork reset: a child starts with fresh locks and no threads, and
        # leaves the parent's queued records to the parent.
        settings = self._settings
        # Half of max_queue_bytes for the queue, the other half shared equally by the
        # sinks' backlogs, so that a stalled sink fills only its own share.
        self._share = max(settings.max_queue_bytes // 2, 1)
        lane_share = max(self._share // max(len(self.sinks), 1), 1)
        self._warn = _Warner()
        # The spans (their compact forms, see `finished`), and beside them the weight
        # each was admitted with, which the dispatcher gives back (ints: no object for
        # the collector to trace per span).
        self._queue: collections.deque[Pending | Finished] = collections.deque()
        self._weights: collections.deque[int] = collections.deque()
        self._lanes = tuple(
            _Lane(s, self, settings.queue_size, lane_share, settings.batch_size) for s in self.sinks
        )
        self._wake = threading.Event()
        # Guards every count below but `dropped` (the callers', under _held_lock) and
        # `internal_errors` (under _drop_lock), and
        # every hand-off to the lanes: stats() reads them all at one instant.
        # Reentrant: a signal handler calling lg.flush() may run on a thread that is
        # in flush() or stats() already; its wait lets go of every level.
        self._progress = threading.Condition(threading.RLock())
        self._drop_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # Reentrant too, for a handler's span ended while this thread starts the
        # dispatcher (`_start`).
        self._start_lock = threading.RLock()
        self._starting = False
        self._closed = False
        # What `close` leaves to the dispatcher when called on its thread: the deadline,
        # the sinks kept and the timeout.
        self._closing: tuple[float | None, tuple[Sink, ...], float | None] | None = None
        # Bytes held by the records queued or in the dispatcher's hands, each weighed
        # exactly when handed over (`Pending.weight`): never more than the queue's share.
        self._held = 0
        # Reentrant: a signal handler may end a span on a thread holding it (`submit`).
        self._held_lock = threading.RLock()
        self._submitting = False  # a `submit` is between taking the lock and letting go
        self._wake_at = settings.batch_size  # records waiting that wake the dispatcher
        self._wake_bytes = self._share // 4  # or bytes waiting
        self.taken = 0  # records the dispatcher has popped from the queue
        self._flushed_at = _NEVER  # `done` at which a waiting flush is to be woken
        self.done = 0  # records it has finished with: handed to every lane, or not kept
        self.dropped = 0  # records dropped because the queue was full
        self.failed = 0  # records that could not be built
        self.sampled_out = 0
        self._lost_before = 0  # records lost before the previous flush, which it reported
        self.internal_errors = 0

    def update(self, settings: Settings) -> None:
        self._settings = settings
        for lane in self._lanes:
            lane.max_batch = settings.batch_size

    # -- the caller's side ------------------------------------------------------

    def submit(self, item: Pending) -> None:
        queue = self._queue
        weight = item.weight
        if weight > self._share:
            # It could never be queued: the record goes without its content, or, when
            # the rest of it (its attributes) is still too large, not at all.
            if item.shed_content(_TOO_LARGE):
                weight = item.weight
            if weight > self._share:
                with self._held_lock:
                    self.dropped += 1
                self._warn("record-too-large", f"llmguard: a record was dropped: {_TOO_LARGE}")
                return
            self._warn(
                "content-too-large",
                f"llmguard: a call's content was left out of its record: {_TOO_LARGE}",
            )
        # The span's compact form when it has one: the span is freed now, and what
        # waits is a tuple the collector soon stops tracking (see `finished`).
        kept = item.compact() or item
        with self._held_lock:
            if self._submitting:
                # A signal handler ending a span on this thread while it was in here: it
                # cannot wait for the lock this thread holds, nor step in between.
                self.dropped += 1
                return
            # Closed since this thread took it from `_active` (a shutdown or configure()
            # swapped it out in between): the span goes to the pipeline in place.
            late = self._closed
            if not late:
                self._submitting = True
                try:
                    held = self._held + weight
                    fits = held <= self._share and len(queue) < self._settings.queue_size
                    if fits:
                        self._held = held
                        queue.append(kept)
                        self._weights.append(weight)
                    else:
                        self.dropped += 1
                except BaseException:
                    # Raised by a signal handler between two steps (KeyboardInterrupt): the
                    # span and its weight are queued together, or neither is and its weight
                    # is not held. A span without its weight put every later one out of
                    # step, and the dispatcher failed at every batch from then on.
                    if queue and queue[-1] is kept:
                        if len(self._weights) < len(queue):
                            self._weights.append(weight)
                    elif self._held == held:
                        self._held -= weight
                    raise
                finally:
                    self._submitting = False
        if late:
            _late(self, item)
            return
        if not fits:
            self._warn("queue-full", "llmguard's delivery queue is full; records are dropped")
            return
        if self._thread is None:
            self._start()
        elif (len(queue) >= self._wake_at or held >= self._wake_bytes) and not self._wake.is_set():
            self._wake.set()

    def _start(self) -> None:
        if sys.is_finalizing():
            # A span ended by the interpreter's last cleanup (a generator left half-read
            # in a global), after the exit flush: a thread started now never runs, and
            # waiting for it to start would hang the exit. The record stays queued.
            return
        with self._start_lock:
            if self._starting:
                # A signal handler's span, ended while this thread starts the
                # dispatcher: it is queued, and the dispatcher about to start takes it.
                return
            if self._thread is None and not self._closed:
                self._starting = True
                try:
                    warm(self._settings)
                    thread = threading.Thread(
                        target=self._run, name="llmguard-delivery", daemon=True
                    )
                    thread.start()
                    self._thread = thread
                finally:
                    self._starting = False

    # -- the dispatcher ------------------------------------------------------------

    def _run(self) -> None:
        # The queue is read where `_dispatch` reads it: a loop on one taken at the start
        # never ends once another is put in place (tests step in between that way).
        while True:
            self._wake.wait(_WAKE_INTERVAL)
            self._wake.clear()
            try:
                while self._queue:
                    self._dispatch()
                self._check_stalls()
            except BaseException as exc:  # a bug of llmguard's own must not stop delivery
                self.report("llmguard's delivery thread failed", exc)
            if self._closed and not self._queue:
                if self._closing is not None:
                    self._close_from_dispatcher(*self._closing)
                return

    def _close_from_dispatcher(
        self, deadline: float | None, keep: Sequence[Sink], timeout: float | None
    ) -> None:
        """The end of a `close` called on this thread (by a redactor), once everything
        queued is handed over: the lanes deliver it, within the deadline, then stop."""
        try:
            marks = [lane.request_flush(_left(deadline)) for lane in self._lanes if lane.started]
            for done in marks:
                done.wait(_left(deadline))
            self._shut(deadline, keep, timeout)
        except BaseException as exc:  # llmguard's own failure: the sinks stay open
            self.report("closing llmguard's delivery failed", exc)

    def _dispatch(self) -> None:
        """Take a batch from the queue, build its records, hand them to every lane.

        Records are handed over in chunks of at most a quarter of a lane's share of
        ``max_queue_bytes``, so that a lane that keeps up always has room for the next.
        What the records weighed in the queue stays counted against its share until
        they are handed over.
        """
        queue, admitted = self._queue, self._weights
        with self._progress, self._held_lock:  # a span and its weight leave together
            if len(admitted) != len(queue):
                _in_step(queue, admitted)
            count = min(self._settings.batch_size, _CHUNK, len(queue))
            items: list[Pending | Finished | None] = [queue.popleft() for _ in range(count)]
            released_weights = [admitted.popleft() for _ in range(count)]
            self.taken += count
        chunk = max(self._share // max(len(self._lanes), 1) // 4, 1)
        built, texts = self._process(items)
        records: list[Record] = []
        weights: list[int] = []
        size = resolved = failed = sampled = released = 0
        for record, text, weight in zip(built, texts, released_weights, strict=True):
            resolved += 1
            released += weight
            if record is None:
                failed += text == _BROKEN
                sampled += text != _BROKEN
                continue
            # Estimates of the memory held in a lane: the content as objects (about its
            # JSON's size again) and the JSON a sink caches on the record.
            held = _RECORD_BYTES + 2 * text
            records.append(record)
            weights.append(held)
            size += held
            if size >= chunk:
                self._hand_over(records, weights, size, resolved, failed, sampled, released)
                records, weights = [], []
                size = resolved = failed = sampled = released = 0
        self._hand_over(records, weights, size, resolved, failed, sampled, released)

    def _hand_over(
        self,
        records: list[Record],
        weights: list[int],
        size: int,
        resolved: int,
        failed: int,
        sampled: int,
        released: int,
    ) -> None:
        if records:
            for lane in self._lanes:
                lane.wait_for_room(len(records), size)
        with self._progress:
            if records:
                for lane in self._lanes:
                    lane.offer(records, weights)
            self.done += resolved
            self.failed += failed
            self.sampled_out += sampled
            with self._held_lock:
                self._held -= released
            # Only a flush waits here: it is woken when its records are done, not at
            # every chunk (each wake-up costs a thread switch under the GIL).
            if self.done >= self._flushed_at:
                self._flushed_at = _NEVER
                self._progress.notify_all()

    def _process(
        self, items: list[Pending | Finished | None]
    ) -> tuple[list[Record | None], list[int]]:
        """For each span, the record to deliver (``None`` if sampled out or broken) and
        how many bytes of JSON it has (`_BROKEN` when building it failed).

        Records are built and cut one by one, redacted together (see `redact_all`),
        then finished one by one. Any exception from user code (a redactor, an
        attribute's conversion), even ``SystemExit`` or ``KeyboardInterrupt``, is
        caught, counted and reported; it costs the record it came from, no other.
        Per record, nothing is made here that outlives the batch but the record: what
        lives on is walked by every pass of the garbage collector.
        """
        settings = self._settings
        service = settings.service
        splice = splices(settings)
        count = len(items)
        records: list[Record | None] = [None] * count
        texts = [0] * count
        staged: list[Staged] = []
        for index in range(count):
            item = items[index]
            items[index] = None  # so that the span and its full content are freed soon
            try:
                finished = item if type(item) is tuple else item.finished()  # type: ignore[union-attr]
                del item
                record, input_json, output_json, sizes = build(finished, service)
                del finished
                packed = (input_json, output_json) if splice else None
                ready = stage(record, settings, sizes, packed)
            except BaseException as exc:
                self._broken(exc)
                texts[index] = _BROKEN
                continue
            if ready is not None:
                ready.index = index
                staged.append(ready)
        try:
            redact_all(staged, settings, self._redactor_failed, catch=BaseException)
        except BaseException as exc:  # llmguard's own failure: the batch is lost, counted
            for ready in staged:
                ready.error = exc
        for ready in staged:
            try:
                records[ready.index], texts[ready.index] = ready.finish()
            except BaseException as exc:
                self._broken(exc)
                texts[ready.index] = _BROKEN
        return records, texts

    def _broken(self, exc: BaseException) -> None:
        with self._drop_lock:
            self.internal_errors += 1
        self.report("a trace record could not be built and was dropped", exc, detail=False)

    def _redactor_failed(
        self, problem: str, exc: BaseException | None, *, detail: bool = True
    ) -> None:
        with self._drop_lock:
            self.internal_errors += 1
        self.report(problem, exc, detail=detail)

    def _check_stalls(self) -> None:
        now = time.monotonic()
        for lane in self._lanes:
            since = lane.busy_since
            if since is not None and now - since > _HANG_AFTER and not lane.reported_stall:
                lane.reported_stall = True
                self.report(f"sink {lane.name!r} has been stalled for {now - since:.0f} s", None)

    def report(
        self,
        problem: str,
        exc: BaseException | None,
        skip: _Lane | None = None,
        *,
        detail: bool = True,
    ) -> None:
        """Warn (rate-limited) and tell the other sinks through an ``internal`` record.

        With ``detail=False`` the warning and the record name the exception's type but
        not its message, which may quote content (a failing redactor's does).
        """
        try:
            record = internal_record(problem, exc, self._settings, detail=detail)
            if record.error_message is not None:
                record = self._redacted(record)
            text = ""
            if exc is not None:
                text = f": {type(exc).__name__}"
                if record.error_message is not None:
                    text += f": {record.error_message}"
            if not self._warn(problem, f"llmguard: {problem}{text}"):
                return
            for lane in self._lanes:
                if lane is not skip:
                    lane.offer_internal(record, _RECORD_BYTES)
        except Exception:  # reporting must never fail the thread that reports
            pass

    def _redacted(self, record: Record) -> Record:
        """An internal record whose error message went through the redactors: a sink's
        error may quote a secret of its own (a connection string with its password).
        A redactor that fails takes the message away."""
        cleaned: Any = record
        try:
            for redactor in self._settings.redact:
                cleaned = redactor(cleaned)
        except BaseException:  # user code: whatever it raises leaves no message
            cleaned = None
        if not isinstance(cleaned, Record):
            return replaced(record, error_message=None)
        return cleaned

    # -- counts, flush and shutdown --------------------------------------------------

    def stats(self) -> DeliveryStats:
        with self._progress:
            queued = len(self._queue)
            sinks = tuple(lane.stats() for lane in self._lanes)
            taken, done, dropped = self.taken, self.done, self.dropped
            failed, sampled, errors = self.failed, self.sampled_out, self.internal_errors
        return DeliveryStats(
            emitted=taken + queued + dropped,
            queued=queued,
            dropped=dropped + failed,
            internal_errors=errors,
            sinks=sinks,
            in_flight=taken - done,
            sampled_out=sampled,
        )

    def result(self) -> FlushResult:
        """Where the records are: complete when none is pending and none was lost since
        the previous flush (a loss is reported once, so one dropped record does not
        make every later flush of a long-running process incomplete)."""
        stats = self.stats()
        pending = stats.queued + stats.in_flight + sum(s.pending for s in stats.sinks)
        lost = stats.dropped + sum(s.dropped for s in stats.sinks)
        new, self._lost_before = lost - self._lost_before, lost
        return FlushResult(
            complete=pending == 0 and new == 0, pending=pending, sinks=stats.sinks, dropped=new
        )

    def runs_on(self, thread: threading.Thread) -> bool:
        """Whether ``thread`` is one of this pipeline's (its dispatcher or a lane)."""
        return thread is self._thread or any(lane._thread is thread for lane in self._lanes)

    def flush(self, timeout: float | None) -> FlushResult:
        deadline = _deadline(timeout)
        thread = self._thread
        # Called from delivery's own threads (a redactor or a sink calling lg.flush),
        # a wait for the work in that thread's hands could only end at the timeout.
        current = threading.current_thread()
        if thread is not None and thread is not current:
            with self._progress:
                target = self.taken + len(self._queue)
                self._wake.set()
                while self.done < target:
                    left = _left(deadline)
                    if left == 0.0 or not thread.is_alive():
                        break
                    self._flushed_at = min(self._flushed_at, target)
                    self._progress.wait(left)
        marks = [
            lane.request_flush(_left(deadline))
            for lane in self._lanes
            if lane.started and lane._thread is not current
        ]
        for done in marks:
            done.wait(_left(deadline))
        return self.result()

    def close(self, timeout: float | None, keep: Sequence[Sink] = ()) -> FlushResult:
        """Flush, stop the lanes, and close the sinks not in ``keep``, all within ``timeout``.

        Each sink is closed on a thread of its own: one whose ``close()`` never returns
        is named in a warning and left behind, so this returns in time whatever the
        sinks do. Records still in a backlog when the lanes stop are dropped and counted.
        Called by a sink from inside its own ``emit`` (on its lane's thread, or on the
        caller's under ``strict=True``), that sink is closed once the call has returned,
        never during it: its lane first delivers what waits in its backlog, until the
        deadline, and under ``strict=True`` the record being emitted reaches the other
        sinks before they close. Called from a redactor, on the dispatcher's thread,
        this returns at once: the dispatcher hands over the records in its hands and
        those still queued, then flushes the lanes and closes the sinks itself.
        """
        deadline = _deadline(timeout)
        flush_by = None
        if deadline is not None and timeout is not None:
            flush_by = deadline - min(_CLOSE_SHARE, max(timeout, 0.0) / 10)
        with self._held_lock:  # what is queued from now on goes to the pipeline in place
            self._closed = True
        result = self.flush(_left(flush_by))
        self._wake.set()
        if self._thread is threading.current_thread():
            self._closing = (deadline, tuple(keep), timeout)
            return result
        self._shut(deadline, keep, timeout)
        return result

    def _shut(self, deadline: float | None, keep: Sequence[Sink], timeout: float | None) -> None:
        """Stop the lanes and close the sinks not in ``keep``: the end of `close`."""
        current = threading.current_thread()
        strict = any(self is inside for inside in _strict_emits.__dict__.get("pipelines", ()))
        for lane in self._lanes:
            if lane._thread is current:
                lane.stop(drain_by=deadline)  # the sink is in its emit: see `_Lane._run`
                _retiring.append(current)  # what it still delivers, the exit waits for
            else:
                lane.stop()
        closing = []
        for lane in self._lanes:
            if any(lane.sink is k for k in keep) and _pass_on(lane.sink):
                continue  # the pipeline that follows has it
            if strict or lane._thread is current:
                lane.close_when_idle = True
                continue
            name = f"llmguard-close-{lane.name}"
            closing.append((lane, _in_background(self._close_sink, lane, name=name)))
        for _, thread in closing:
            thread.join(_left(deadline))
        late = [lane.name for lane, thread in closing if thread.is_alive()]
        if late:
            logger.warning(
                "llmguard: %s did not close within %g s; left closing in the background",
                ", ".join(f"sink {name!r}" for name in late),
                timeout,
            )

    def _close_sink(self, lane: _Lane) -> None:
        # Another pipeline holding the sink (one started since by records emitted after
        # the shutdown, or an older one whose lane is still in the emit that shut it
        # down) is still using it: the last of them to let it go closes it.
        if not _let_go(lane.sink):
            return
        try:
            lane.sink.close()
        except BaseException as exc:  # user code: whatever it raises is reported
            self.report(f"sink {lane.name!r} failed in close()", exc, skip=lane)


def _late(closed: _Pipeline, item: Pending) -> None:
    """A span for ``closed``, taken from `_active` just before it was swapped out and
    queued once it was closed: the pipeline in place takes it (a new one after
    `shutdown`, as for any record emitted after it). Its dispatcher, stopped or about
    to, would never have delivered it, nor anyone asked for its count."""
    current = _active or _pipeline()
    if current is closed or current._closed:  # pragma: no cover - no pipeline to take it
        with closed._held_lock:
            closed.dropped += 1
        return
    current.submit(item)


def _in_step(queue: collections.deque[Any], weights: collections.deque[int]) -> None:
    """Give every queued span a weight again, after a `submit` that a second signal
    handler interrupted while it undid the first (between the span and its weight).

    Which weight went missing is not known: the spans after it take the weights of
    their successors, the last one none (0). Their sum stays short of what is held by
    the weight that went missing, a few bytes of the queue's share that are never
    given back; without this, the dispatcher failed at every batch from then on.
    """
    while len(weights) < len(queue):
        weights.append(0)
    while len(weights) > len(queue):
        weights.pop()


def _deadline(timeout: float | None) -> float | None:
    # Past threading.TIMEOUT_MAX (some 292 years) a wait raises OverflowError: so long
    # a timeout is no timeout.
    if timeout is None or not math.isfinite(timeout) or timeout >= threading.TIMEOUT_MAX:
        return None
    return time.monotonic() + max(timeout, 0.0)


def _left(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    return max(deadline - time.monotonic(), 0.0)


def _in_background(target: Callable[..., object], *args: Any, name: str) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    thread.start()
    return thread


# -- which pipelines hold each sink ----------------------------------------------------

# The pipelines holding each sink, by the sink's identity: a sink shut down from inside
# its own emit is closed by its old lane once that emit returns, while a pipeline
# started meanwhile may take it and be shut down too. Each pipeline lets go of its
# sinks as it closes, and only the last one to let go of a sink closes it, once.
_holders: dict[int, list[Any]] = {}  # id(sink) -> [sink, pipelines holding it]
# Reentrant: a signal handler's span may build a pipeline while this thread's holds.
_holders_lock = threading.RLock()


def _hold(sinks: Sequence[Sink]) -> None:
    with _holders_lock:
        for sink in sinks:
            _holders.setdefault(id(sink), [sink, 0])[1] += 1


def _pass_on(sink: Sink) -> bool:
    """Let go of a sink kept by the pipeline that follows, if that one still holds it;
    false when it was shut down already (from this sink's emit, say): then the one
    letting go last closes the sink, as for any other."""
    with _holders_lock:
        held = _holders.get(id(sink))
        if held is None or held[0] is not sink or held[1] < 2:
            return False
        held[1] -= 1
        return True


def _let_go(sink: Sink) -> bool:
    """One pipeline is done with ``sink``; whether no other holds it (then it is closed)."""
    with _holders_lock:
        held = _holders.get(id(sink))
        if held is None or held[0] is not sink:
            return True
        held[1] -= 1
        if held[1] > 0:
            return False
        del _holders[id(sink)]
        return True


# -- the process-wide pipeline ---------------------------------------------------------

_active: _Pipeline | None = None
# Reentrant, as the captures' lock: a signal handler ending a span may run on a thread
# that holds it (building the pipeline, adding a record to the captures).
_active_lock = threading.RLock()
_captures: list[list[Record]] = []
_captures_lock = threading.RLock()
# Closing pipelines that configure() replaced, and lanes still delivering after a
# shutdown from their sink's emit: the exit waits for them.
_retiring: list[threading.Thread] = []
_serializer_built = False


def _pipeline() -> _Pipeline:
    global _active
    current = _active
    if current is None:
        with _active_lock:
            current = _active
            if current is None:
                settings = _config.settings()
                sinks = settings.sinks if settings.sinks is not None else _config.sinks_from_env()
                built = _Pipeline(sinks, settings)
                current = _active
                if current is None:
                    current = _active = built
                else:  # a signal handler's span built one meanwhile, on this thread
                    for sink in built.sinks:
                        _let_go(sink)
    return current


def warm(settings: Settings) -> None:
    """Load now, on the calling thread, what delivery would otherwise load on its own.

    The record serializer (pydantic) is built on first use, and the default redactor
    compiles its patterns on first use. Done on a delivery thread, their imports hold
    Python's import locks for a while, and a fork in that while leaves the child
    waiting for them forever. Run by ``configure(sinks=...)`` and before the first
    record starts the delivery thread; it also puts delivery's exit handler first in
    line again (see `_exit_first`).
    """
    global _serializer_built
    _exit_first()
    if not _serializer_built:
        import pydantic_core  # noqa: F401 - the content bounds use it

        now = "1970-01-01T00:00:00.000000Z"
        warmed = Record(
            trace_id="1" * 32, span_id="1" * 16, name="warm", start=now, end=now, duration_ms=0.0
        )
        warmed.to_json()  # imports the fast encoder
        json_size([])  # and the content bounds' use of it
        build_serializer()  # the pydantic one, for what the fast one leaves to it
        _serializer_built = True
    for redactor in settings.redact:
        if isinstance(redactor, Patterns):
            redactor.redact("warm 0 @")


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
            _emit_strictly(pipeline, record)
        return
    pipeline.submit(item)


# The pipelines whose sinks this thread is handing a record to, under ``strict=True``:
# a shutdown called from a sink's emit leaves every sink of that pipeline open until
# the record has gone to all of them.
_strict_emits = threading.local()


def _emit_strictly(pipeline: _Pipeline, record: Record) -> None:
    inside: list[_Pipeline] = _strict_emits.__dict__.setdefault("pipelines", [])
    inside.append(pipeline)
    try:
        for lane in pipeline._lanes:
            lane.sink.emit([record])
    finally:
        inside.pop()
        for lane in pipeline._lanes:
            if lane.close_when_idle:
                lane.close_when_idle = False
                pipeline._close_sink(lane)


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
    except Exception as exc:
        if settings.strict:
            raise
        logger.warning("llmguard: a captured record could not be built: %s", type(exc).__name__)
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
    """Delivery counts: where every record emitted so far is, at one instant."""
    return _pipeline().stats()


def flush(timeout: float | None = 5.0) -> FlushResult:
    """Deliver every record emitted so far, waiting at most ``timeout`` seconds.

    Args:
        timeout: Seconds to wait; ``None`` waits as long as it takes.

    Returns:
        A `FlushResult`, true only when no record is pending and none was dropped
        since the previous flush; otherwise it says how many are still pending, how
        many were dropped, and at which sinks.
    """
    return _pipeline().flush(timeout)


def shutdown(timeout: float | None = 5.0) -> FlushResult:
    """Flush, then close every sink, all within ``timeout`` seconds.

    A sink whose ``close()`` does not return in time is named in a warning and left
    closing in the background. Records emitted afterwards start a new pipeline.
    """
    global _active
    with _active_lock:
        current, _active = _active, None
    if current is None:
        return FlushResult(complete=True, pending=0, sinks=())
    return current.close(timeout)


def settings_changed(old: Settings, new: Settings, rebuild: bool) -> Callable[[], None]:
    """Called by ``configure()``: swap the pipeline when the sinks change or on reset.

    The old pipeline is flushed and its sinks closed (except those still configured)
    on a thread of its own, within ``exit_timeout`` (5 s at most). Returns the wait for
    it, at most a second, so that a hung sink never holds up ``configure()``: the
    caller waits once it lets other changes of the settings in, so that they do not
    queue behind this one's wait.
    """
    global _active
    with _active_lock:
        current = _active
        if current is None:
            return _no_wait
        if (
            not rebuild
            and new.sinks is old.sinks
            and new.queue_size == old.queue_size
            and new.max_queue_bytes == old.max_queue_bytes
        ):
            current.update(new)
            return _no_wait
        # The pipeline that follows holds the sinks it keeps from now on (see
        # `_pass_on`); it starts its thread with its first record.
        _active = _Pipeline(new.sinks, new) if new.sinks else None
        bound = min(new.exit_timeout, 5.0)
        retiring = _in_background(current.close, bound, new.sinks or (), name="llmguard-retire")
        _retiring[:] = [t for t in _retiring if t.is_alive()]
        _retiring.append(retiring)
    if current.runs_on(threading.current_thread()):
        # From a sink or redactor of the old pipeline, the close waits on this very
        # thread's work: waiting here would only end at the bound.
        return _no_wait
    return lambda: retiring.join(min(bound, _RETIRE_WAIT))


def _no_wait() -> None:
    pass


# What runs at exit just before the last flush (`_tracing.open_streams` ends the streams
# still open there, so that the flush delivers their records).
_before_exit: list[Callable[[], None]] = []
_exiting = False


def before_exit(hook: Callable[[], None]) -> None:
    """Run ``hook`` at interpreter exit, before delivery's last flush."""
    _before_exit.append(hook)


def _exit_first() -> None:
    """Put `_at_exit` first in line again: atexit runs its handlers in the reverse
    order of their registration, and a handler registered since llmguard was imported
    (an OpenTelemetry ``TracerProvider`` shuts itself down at exit) would otherwise run
    before the last flush and refuse what it hands over."""
    if not _exiting:
        atexit.unregister(_at_exit)
        atexit.register(_at_exit)


def _at_exit() -> None:
    global _exiting
    _exiting = True
    for hook in list(_before_exit):
        try:
            hook()
        except Exception as exc:  # llmguard's own failure must not disturb the exit
            report("a step of llmguard's exit failed", exc)
    timeout = _config.settings().exit_timeout
    deadline = _deadline(timeout)
    if _active is not None:
        result = shutdown(timeout)
        if result.pending or result.dropped:
            where = ", ".join(f"sink {s.name!r}: {s.pending}" for s in result.sinks if s.pending)
            said = []
            if result.pending:
                where = f" ({where})" if where else ""
                said.append(f"{result.pending} not delivered at exit{where}")
            if result.dropped:
                said.append(f"{result.dropped} dropped since the last flush")
            logger.warning("llmguard: trace records lost: %s", "; ".join(said))
    for thread in list(_retiring):
        thread.join(_left(deadline))
    if any(thread.is_alive() for thread in _retiring):
        logger.warning(
            "llmguard: sinks replaced by configure() or shut down from their own emit "
            "were still closing at exit"
        )


def _after_fork_in_child() -> None:
    global _active_lock, _captures_lock, _holders_lock
    _active_lock = threading.RLock()
    _captures_lock = threading.RLock()
    _holders_lock = threading.RLock()
    _retiring.clear()
    # The pipelines the parent was closing have no threads here: only the active one
    # holds its sinks in the child.
    _holders.clear()
    if _active is not None:
        _hold(_active.sinks)
        _active._reset_state()


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# -- A sink's lane: its own backlog of batches and the thread that feeds them to it.


def sink_name(sink: object) -> str:
    """The name a sink goes by in stats and warnings: its ``name`` or its class name."""
    try:
        name = getattr(sink, "name", None)
    except Exception:  # the application's property: whatever it raises, not a name
        name = None
    return name if isinstance(name, str) else type(sink).__name__


class _FlushMark:
    __slots__ = ("done", "timeout")

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self.done = threading.Event()


class _Batch:
    """Records waiting in a lane; ``counted`` unless they are llmguard's own reports."""

    __slots__ = ("counted", "records", "size")

    def __init__(self, records: list[Record], size: int, counted: bool) -> None:
        self.records = records
        self.size = size
        self.counted = counted


class _Lane:
    """One sink, its backlog of batches and the thread that feeds it.

    The backlog is bounded in records (``queue_size``) and in bytes (the lane's share
    of ``max_queue_bytes``); what does not fit is dropped and counted here. The
    ``internal`` records of `_Pipeline.report` go through too, but are not counted:
    the counts are of the application's records.
    """

    def __init__(
        self, sink: Sink, pipeline: _Pipeline, max_pending: int, max_bytes: int, max_batch: int
    ) -> None:
        self.sink = sink
        self.name = sink_name(sink)
        self._pipeline = pipeline
        self._max_pending = max_pending
        self._max_bytes = max_bytes
        self.max_batch = max_batch  # records the sink gets at most in one emit
        self._backlog: collections.deque[_Batch | _FlushMark] = collections.deque()
        self._cond = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._drain_by = -_NEVER  # until when a stopped lane still delivers its backlog
        self.pending = 0
        self.pending_bytes = 0
        self.delivered = 0
        self.dropped = 0
        self.errors = 0
        self.busy_since: float | None = None
        self.reported_stall = False
        self.close_when_idle = False  # set by a close called from this lane's own sink

    def stats(self) -> SinkStats:
        with self._cond:
            return SinkStats(self.name, self.delivered, self.dropped, self.errors, self.pending)

    def offer(self, records: list[Record], weights: list[int]) -> None:
        """Take what fits of ``records`` (weighing ``weights`` bytes), drop the rest."""
        with self._cond:
            taken = size = 0
            if not self._stopped:
                count_room = self._max_pending - self.pending
                byte_room = self._max_bytes - self.pending_bytes
                for held in weights:
                    if taken >= count_room:
                        break
                    # An empty backlog takes one record whatever its size.
                    if size + held > byte_room and (taken or self.pending_bytes):
                        break
                    taken += 1
                    size += held
            if taken:
                # A list of the lane's own: a sink may change the one it is given.
                kept = records[:taken]
                self.pending += taken
                self._push(_Batch(kept, size, counted=True))
            self.dropped += len(records) - taken

    def offer_internal(self, record: Record, size: int) -> None:
        """Take one of llmguard's own records if it fits; it is not counted either way."""
        with self._cond:
            if self._stopped or (
                self.pending_bytes and self.pending_bytes + size > self._max_bytes
            ):
                return
            self._push(_Batch([record], size, counted=False))

    def _push(self, batch: _Batch) -> None:
        self.pending_bytes += batch.size
        self._backlog.append(batch)
        self._ensure_thread()
        self._cond.notify_all()

    def wait_for_room(self, count: int, size: int) -> None:
        """Wait a moment for a working sink to make room for ``count`` records of ``size``.

        Returns at once when the sink is stuck in a call (longer than `_PATIENCE`), and
        after `_PATIENCE` at most otherwise: a full backlog then drops what is offered.
        """
        deadline = time.monotonic() + _PATIENCE
        with self._cond:
            while not self._stopped and not self._fits(count, size):
                now = time.monotonic()
                busy = self.busy_since
                if (busy is not None and now - busy > _PATIENCE) or now >= deadline:
                    return
                self._cond.wait(deadline - now)

    def _fits(self, count: int, size: int) -> bool:
        if self.pending + count > self._max_pending:
            return False
        return not self.pending_bytes or self.pending_bytes + size <= self._max_bytes

    @property
    def started(self) -> bool:
        return self._thread is not None

    def request_flush(self, timeout: float | None) -> threading.Event:
        mark = _FlushMark(timeout)
        with self._cond:
            if self._stopped:
                mark.done.set()
            else:
                self._backlog.append(mark)
                self._ensure_thread()
                self._cond.notify_all()
        return mark.done

    def stop(self, drain_by: float | None = -_NEVER) -> None:
        """Stop taking records: what waits in the backlog is dropped and counted, or,
        with ``drain_by`` (a `time.monotonic` deadline, ``None`` for none), delivered
        until then first (a lane stopped from inside its sink's emit)."""
        with self._cond:
            self._stopped = True
            self._drain_by = _NEVER if drain_by is None else drain_by
            if time.monotonic() >= self._drain_by:
                self._drop_backlog()
            self._cond.notify_all()

    def _drop_backlog(self) -> None:
        """Drop and count what waits in the backlog. Called under the lock."""
        for item in self._backlog:
            if isinstance(item, _FlushMark):
                item.done.set()
                continue
            self.pending_bytes -= item.size
            if item.counted:
                self.pending -= len(item.records)
                self.dropped += len(item.records)
        self._backlog.clear()

    def _ensure_thread(self) -> None:
        if self._thread is None and not sys.is_finalizing():  # see `_Pipeline._start`
            self._thread = threading.Thread(
                target=self._run, name=f"llmguard-sink-{self.name}", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._backlog and not self._stopped:
                    self._cond.wait()
                if self._stopped and time.monotonic() >= self._drain_by:
                    self._drop_backlog()
                if not self._backlog:
                    break
                item = self._joined(self._backlog.popleft())
            if isinstance(item, _FlushMark):
                self._call("flush", item.timeout)
                item.done.set()
                continue
            count = len(item.records)  # read before the sink can empty the list
            failure = self._call("emit", item.records)
            delivered = count if failure is None else _delivered_before(failure, count)
            with self._cond:
                self.pending_bytes -= item.size
                if item.counted:
                    self.pending -= count
                    self.delivered += delivered
                    self.dropped += count - delivered
                if failure is not None:
                    self.errors += 1
                self._cond.notify_all()
            del item  # the records go now, not when the next batch comes
        if self.close_when_idle:
            self._pipeline._close_sink(self)

    def _joined(self, item: _Batch | _FlushMark) -> _Batch | _FlushMark:
        """``item``, with the counted batches right behind it in the backlog joined to it
        while the records stay within ``max_batch``: a sink that fell behind catches up
        in fewer, larger calls. Called under the lock."""
        backlog = self._backlog
        if not isinstance(item, _Batch) or not item.counted or not backlog:
            return item
        records = item.records  # the lane's own list (see `offer`)
        while backlog:
            following = backlog[0]
            if not isinstance(following, _Batch) or not following.counted:
                break
            if len(records) + len(following.records) > self.max_batch:
                break
            backlog.popleft()
            records.extend(following.records)
            item.size += following.size
        return item

    def _call(self, what: str, argument: Any) -> BaseException | None:
        """Call the sink's method ``what``; what it raised (reported), or ``None``."""
        self.busy_since = time.monotonic()
        try:
            # Looked up here: a property of the application's sink may raise too.
            getattr(self.sink, what)(argument)
        except BaseException as exc:  # user code: even SystemExit must not stop the lane
            # A partial delivery is told by the error that stopped the sink.
            cause = exc.__cause__ if isinstance(exc, PartiallyDelivered) else None
            shown = cause if isinstance(cause, BaseException) else exc
            self._pipeline.report(f"sink {self.name!r} failed in {what}()", shown, skip=self)
            return exc
        finally:
            self.busy_since = None
            self.reported_stall = False
        return None
