"""Streams handed back to the caller unchanged, while llmguard reads along."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import wrapt

from llmguard._records import StreamEnd
from llmguard._trace import Span
from llmguard.adapters import Reply, StreamAccumulator, accumulator_for

__all__ = ["pass_through"]

logger = logging.getLogger("llmguard")

if TYPE_CHECKING:
    _Proxy = wrapt.ObjectProxy[Any]
else:
    _Proxy = wrapt.ObjectProxy

#: Called once when a handed-off stream ends, with what was read from it and the
#: exception that ended it, if any.
Finish = Callable[[Reply | None, BaseException | None], None]


class _Reading:
    """Accumulates the chunks that pass, and closes the call's records once."""

    __slots__ = ("accumulator", "done", "finish", "items", "llm")

    def __init__(self, llm: Span, finish: Finish) -> None:
        self.llm = llm
        self.finish = finish
        self.accumulator: StreamAccumulator | None = None
        self.items = 0
        self.done = False

    def feed(self, chunk: object) -> None:
        self.items += 1
        try:
            if self.accumulator is None:
                self.accumulator = accumulator_for(chunk)
            if self.accumulator is not None:
                self.accumulator.feed(chunk)
        except Exception:  # reading along must never break the caller's stream
            logger.debug("llmguard: a stream chunk could not be read", exc_info=True)

    def end(self, how: StreamEnd, exc: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        try:
            self.finish(None if self.accumulator is None else self.accumulator.reply(), exc)
            self.llm.set_stream(self.items, how)
            if exc is not None:
                self.llm.record_exception(exc)
            self.llm.end()
        except Exception:
            logger.debug("llmguard: a stream's record could not be finished", exc_info=True)


class GuardedStream(_Proxy):
    """A sync stream, passed through unchanged; every other attribute is the stream's."""

    def __init__(self, stream: Any, reading: _Reading) -> None:
        super().__init__(stream)
        self._self_reading = reading

    def __iter__(self) -> GuardedStream:
        return self

    def __next__(self) -> Any:
        try:
            chunk = next(self.__wrapped__)
        except StopIteration:
            self._self_reading.end("exhausted")
            raise
        except BaseException as exc:
            self._self_reading.end("error", exc)
            raise
        self._self_reading.feed(chunk)
        return chunk

    def close(self) -> None:
        """Close the stream; its records are written with what it delivered."""
        try:
            close = getattr(self.__wrapped__, "close", None)
            if close is not None:
                close()
        finally:
            self._self_reading.end("closed")

    def __enter__(self) -> GuardedStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        self._self_reading.end("closed")


class AsyncGuardedStream(_Proxy):
    """An async stream, passed through unchanged; every other attribute is the stream's."""

    def __init__(self, stream: Any, reading: _Reading) -> None:
        super().__init__(stream)
        self._self_reading = reading

    def __aiter__(self) -> AsyncGuardedStream:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_reading.end("exhausted")
            raise
        except BaseException as exc:
            self._self_reading.end("cancelled" if _cancelled(exc) else "error", exc)
            raise
        self._self_reading.feed(chunk)
        return chunk

    async def aclose(self) -> None:
        """Close the stream; its records are written with what it delivered."""
        try:
            closer = getattr(self.__wrapped__, "aclose", None) or getattr(
                self.__wrapped__, "close", None
            )
            if closer is not None:
                closed = closer()
                if inspect.isawaitable(closed):
                    await closed
        finally:
            self._self_reading.end("closed")

    async def close(self) -> None:
        """The SDKs' name for `aclose`."""
        await self.aclose()

    async def __aenter__(self) -> AsyncGuardedStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        self._self_reading.end("closed")


def _cancelled(exc: BaseException) -> bool:
    import asyncio

    return isinstance(exc, asyncio.CancelledError)


def pass_through(stream: Any, llm: Span, finish: Finish) -> Any:
    """Wrap ``stream`` so the call's records end when the caller is done with it."""
    reading = _Reading(llm, finish)
    if hasattr(stream, "__anext__"):
        return AsyncGuardedStream(stream, reading)
    return GuardedStream(stream, reading)
