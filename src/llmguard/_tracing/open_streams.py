"""Streams still open when the interpreter exits, ended before delivery's last flush.

A traced generator or a stream kept alive to the end (half-read, in a module global)
is finalized only after llmguard's exit handler has flushed and closed the sinks, too
late for its record. What registers here with `opened` is told to end at exit, with
what it delivered, just before that flush. The registry holds weak references, so an
abandoned stream still goes with the garbage collector.
"""

from __future__ import annotations

import os
import weakref
from typing import Protocol

from llmguard._delivery.pipeline import before_exit, report

__all__ = ["EndClaim", "Interruptible", "closed", "opened"]


class Interruptible(Protocol):
    """A stream whose records can be ended early."""

    def interrupted(self) -> None:
        """End the records now, with what was delivered: the interpreter is exiting."""


class EndClaim:
    """The right to end a stream's records, taken once: by the stream's own end or by
    the exit (`Interruptible.interrupted`), which may come at the same moment from
    another thread. ``list.pop`` is one atomic step; a check of a flag and the set
    after it are two, and both threads could pass the check and write two records."""

    __slots__ = ("_left",)

    def __init__(self) -> None:
        self._left = [True]

    def take(self) -> bool:
        """True for the first caller only."""
        try:
            return self._left.pop()
        except IndexError:  # the other one ends them
            return False


_open: weakref.WeakSet[Interruptible] = weakref.WeakSet()


def opened(stream: Interruptible) -> None:
    """Register ``stream`` (weakly) to be ended at exit if it is still open then."""
    _open.add(stream)


def closed(stream: Interruptible) -> None:
    """``stream`` ended by itself: nothing to do at exit."""
    _open.discard(stream)


def _end_open_streams() -> None:
    """At exit, end every registered stream still open: delivery's exit handler runs
    this just before its last flush (`pipeline.before_exit`)."""
    try:
        streams = list(_open)
        _open.clear()
    except Exception as exc:  # llmguard's own failure must not disturb the exit
        report("ending open streams at exit failed", exc)
        return
    for stream in streams:
        try:
            stream.interrupted()
        except Exception as exc:  # a strict sink's error, say: it costs this one only
            report("ending an open stream at exit failed", exc)


def _forget_after_fork() -> None:
    # The streams open at the fork are the parent's, which records them: a child that
    # exits without touching them must not write copies of their records. A new set:
    # the old one may have been in the middle of an iteration on a thread now gone.
    global _open
    _open = weakref.WeakSet()


before_exit(_end_open_streams)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
