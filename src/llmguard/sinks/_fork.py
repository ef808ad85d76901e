"""Fresh locks for sinks in a forked child, and no write of theirs cut by a fork.

A lock held by another thread at the moment of ``os.fork`` stays held forever in the
child, where that thread does not exist. Sinks register here so the child gets new locks
before any of its code runs; each sink reopens its own file or connection lazily, by
comparing the pid it opened them in with the current one.

A sink whose library keeps per-process state about its file (SQLite records, for the
whole process, which locks its connections hold on each database file) also asks that
a fork wait for the write it is doing: forked in the middle of a transaction, the child
inherits the note that a connection of its own holds the write lock, and every
connection the child opens waits for that lock until its busy timeout runs out.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import Protocol

__all__ = ["ForkAware", "Writer", "finish_writes_before_fork", "renew_lock_after_fork"]


class ForkAware(Protocol):
    """A sink whose ``_lock`` must be replaced in a forked child."""

    _lock: threading.Lock


class Writer(ForkAware, Protocol):
    """A sink a fork waits for: ``_writer`` is the thread writing (holding ``_lock``)."""

    _writer: int | None


# Weak references: registering must not keep a discarded sink (and its file) alive.
_registered: weakref.WeakSet[ForkAware] = weakref.WeakSet()
# Sinks a fork waits for, with how long at most.
_waited_for: weakref.WeakKeyDictionary[Writer, float] = weakref.WeakKeyDictionary()
# The locks taken before the forks now under way, by forking thread, released after
# each in the parent: two threads may fork at once, and each must release only its own.
_held: dict[int, list[threading.Lock]] = {}


def renew_lock_after_fork(sink: ForkAware) -> None:
    """Give ``sink`` a new, unheld ``_lock`` in every child forked from now on."""
    _registered.add(sink)


def finish_writes_before_fork(sink: Writer, timeout: float) -> None:
    """Make every fork from now on wait until ``sink`` is not writing (holds no
    ``_lock``), for at most ``timeout`` seconds; the sink writes on after the fork.

    A fork from the thread writing (from code the write calls, such as an
    application's sqlite3 adapter or a signal handler) does not wait: the write cannot
    end before the fork does, and the fork goes ahead at once, as one that waited too
    long does.
    """
    renew_lock_after_fork(sink)
    _waited_for[sink] = timeout


def _before_fork() -> None:
    # All waits share one bound: the longest timeout asked for.
    here = threading.get_ident()
    waiting = [(sink, timeout) for sink, timeout in _waited_for.items() if sink._writer != here]
    deadline = time.monotonic() + max((timeout for _, timeout in waiting), default=0.0)
    taken = _held.setdefault(here, [])
    for sink, _ in waiting:
        lock = sink._lock
        if lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            taken.append(lock)


def _release_in_parent() -> None:
    for lock in _held.pop(threading.get_ident(), ()):
        lock.release()


def _renew_locks() -> None:
    _held.clear()
    for sink in list(_registered):
        sink._lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent only on Windows
    os.register_at_fork(
        before=_before_fork, after_in_parent=_release_in_parent, after_in_child=_renew_locks
    )
