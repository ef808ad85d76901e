"""A guarded stream whose ``close()`` hangs. The guard waits for it, as the caller's own
code would: it has no timeout of its own to apply, and running a caller's close on
another thread to walk away from it is not safe (thread-affine cleanup, re-entrant
locks the caller's thread holds, a thread left behind per call). The SDKs' closes do no
network wait (HTTP/1.1: the socket is closed). What the guard owes the application is
control: a cancellation during the close reaches it, and the call's records
are written with what the stream delivered."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import llmguard as lg
from tests._helpers.schemas import Ticket

GOOD = ['{"category": ', '"bug", "urgency": 2}']


class HangingClose:
    """Text pieces, then a ``close()`` that waits until ``release`` is set."""

    def __init__(self) -> None:
        self.pieces = iter(GOOD)
        self.closing = threading.Event()
        self.release = threading.Event()

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        return next(self.pieces)

    def close(self) -> None:
        self.closing.set()
        self.release.wait()


class AsyncHangingClose:
    def __init__(self) -> None:
        self.pieces = iter(GOOD)
        self.closing = asyncio.Event()

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        try:
            return next(self.pieces)
        except StopIteration:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self.closing.set()
        await asyncio.Event().wait()  # never set


def test_an_async_hanging_aclose_yields_to_the_applications_cancellation() -> None:
    """The app bounds the call with its own timeout: the cancellation reaches it (not
    swallowed as a close error) and the records are written."""
    stream = AsyncHangingClose()

    @lg.guard(schema=Ticket, retries=0)
    async def triage(prompt: str) -> Any:
        return stream

    async def run() -> None:
        task = asyncio.ensure_future(triage("It crashes"))
        await stream.closing.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with lg.testing.capture() as records:
        asyncio.run(run())
    [attempt] = [r for r in records if r.kind == "attempt"]
    assert attempt.error_type.endswith("CancelledError")
    [llm] = [r for r in records if r.kind == "llm"]
    assert llm.status == "error"


def test_a_close_that_returns_late_still_gives_the_answer() -> None:
    """Released from another thread, the close returns and the call succeeds."""
    stream = HangingClose()

    @lg.guard(schema=Ticket, retries=0)
    def triage(prompt: str) -> Any:
        return stream

    def release() -> None:
        stream.closing.wait()
        stream.release.set()

    helper = threading.Thread(target=release)
    helper.start()
    assert triage("It crashes") == Ticket(category="bug", urgency=2)
    helper.join()
