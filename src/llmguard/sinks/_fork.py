"""Fresh locks for sinks in a forked child.

A lock held by another thread at the moment of ``os.fork`` stays held forever in the
child, where that thread does not exist. Sinks register here so the child gets new locks
before any of its code runs; each sink reopens its own file or connection lazily, by
comparing the pid it opened them in with the current one.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Protocol

__all__ = ["ForkAware", "renew_lock_after_fork"]


class ForkAware(Protocol):
    """A sink whose ``_lock`` must be replaced in a forked child."""

    _lock: threading.Lock


# Weak references: registering must not keep a discarded sink (and its file) alive.
_registered: weakref.WeakSet[ForkAware] = weakref.WeakSet()


def renew_lock_after_fork(sink: ForkAware) -> None:
    """Give ``sink`` a new, unheld ``_lock`` in every child forked from now on."""
    _registered.add(sink)


def _renew_locks() -> None:
    for sink in list(_registered):
        sink._lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent only on Windows
    os.register_at_fork(after_in_child=_renew_locks)
