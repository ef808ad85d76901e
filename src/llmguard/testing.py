"""Test doubles that ship with llmguard, for the tests of applications that use it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from llmguard._pipeline import capturing
from llmguard._records import Record

__all__ = ["capture"]


@contextlib.contextmanager
def capture() -> Iterator[list[Record]]:
    """Collect the records finished while the block runs, as sinks would receive them.

    Records are built on the thread that finishes each span, with redaction and
    content bounds applied, so the list is complete as soon as the block exits: no
    background thread, no flush, nothing to wait for. Captures nest, and work
    whether or not any sink is configured::

        with llmguard.testing.capture() as records:
            answer()
        assert [r.name for r in records] == ["answer"]
    """
    with capturing() as records:
        yield records
