"""Streams handed back to the caller unchanged, while llmguard reads along."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import wrapt

from llmguard._core.records import StreamEnd
from llmguard._core.reply import as_str, get
from llmguard._guard.drivers import reply_of
from llmguard._spend.tokens import count_tokens
from llmguard._tracing.open_streams import EndClaim, closed, opened
from llmguard._tracing.spans import Span
from llmguard.adapters import Reply, StreamAccumulator, accumulator_for
from llmguard.exceptions import TokenLimitExceeded

__all__ = ["OutputCap", "pass_through"]

logger = logging.getLogger("llmguard")

if TYPE_CHECKING:
    _Proxy = wrapt.ObjectProxy[Any]
else:
    _Proxy = wrapt.ObjectProxy

#: Called once when a handed-off stream ends, with what was read from it and the
#: exception that ended it, if any.
Finish = Callable[[Reply | None, BaseException | None], None]


@dataclass(frozen=True, slots=True)
class OutputCap:
    """Where to stop a passing stream: after ``tokens`` output tokens, and how."""

    tokens: int
    on_overflow: Literal["raise", "truncate"]
    model: str | None = None


class _Reading:
    """Accumulates the chunks that pass, and closes the call's records once."""

    __slots__ = (
        "__weakref__",
        "_claim",
        "accumulator",
        "cap",
        "finish",
        "items",
        "llm",
        "output_tokens",
    )

    def __init__(self, llm: Span, finish: Finish, cap: OutputCap | None) -> None:
        self.llm = llm
        self.finish = finish
        self.cap = cap
        self.accumulator: StreamAccumulator | None = None
        self.items = 0
        self.output_tokens = 0
        self._claim = EndClaim()  # the stream's own end or the exit's, whichever is first
        opened(self)  # a stream still open at exit is ended before the last flush

    def feed(self, chunk: object) -> bool:
        """Read a chunk along; true when it would take the answer past the output cap."""
        try:
            if self.cap is not None:
                text = _delta_text(chunk)
                if text:
                    self.output_tokens += count_tokens(text, model=self.cap.model)
                    if self.output_tokens > self.cap.tokens:
                        return True
            self.items += 1
            if self.accumulator is None:
                self.accumulator = accumulator_for(chunk)
            if self.accumulator is not None:
                self.accumulator.feed(chunk)
        except Exception:  # reading along must never break the caller's stream
            logger.debug("llmguard: a stream chunk could not be read", exc_info=True)
        return False

    def overflow(self) -> BaseException:
        """End the records at the cap; the exception the reader gets in place of the chunk."""
        assert self.cap is not None
        limit = TokenLimitExceeded(
            f"the streamed answer reached max_output_tokens={self.cap.tokens}",
            limit="max_output_tokens",
            maximum=self.cap.tokens,
            used=self.output_tokens,
            name=self.llm.name,
            trace_id=self.llm.trace_id,
        )
        if self.cap.on_overflow == "truncate":
            self.end("closed")
            return StopIteration()
        self.end("error", limit)
        return limit

    def interrupted(self) -> None:
        self.end("interrupted")

    def end(self, how: StreamEnd, exc: BaseException | None = None) -> None:
        if not self._claim.take():
            return
        closed(self)
        try:
            self.finish(reply_of(self.accumulator), exc)
            self.llm.set_stream(self.items, how)
            if exc is not None:
                self.llm.record_exception(exc)
                if isinstance(exc, TokenLimitExceeded):
                    self.llm.set_status("limit", str(exc))
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
        if self._self_reading.feed(chunk):
            _close_quietly(self.__wrapped__)
            raise self._self_reading.overflow()
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
        if self._self_reading.feed(chunk):
            closer = getattr(self.__wrapped__, "aclose", None) or getattr(
                self.__wrapped__, "close", None
            )
            if closer is not None:
                closed = closer()
                if inspect.isawaitable(closed):
                    await closed
            stop = self._self_reading.overflow()
            if isinstance(stop, StopIteration):
                raise StopAsyncIteration
            raise stop
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


def _close_quietly(stream: Any) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            logger.debug("llmguard: a capped stream could not be closed", exc_info=True)


def _delta_text(chunk: object) -> str | None:
    """The new answer text a chunk carries (OpenAI, Responses, Anthropic, or text)."""
    if isinstance(chunk, str):
        return chunk
    choices = get(chunk, "choices")
    if isinstance(choices, list):
        if not choices:
            return None
        delta = get(choices[0], "delta")
        text = as_str(get(delta, "content")) or ""
        calls = get(delta, "tool_calls")
        for call in calls if isinstance(calls, list) else ():
            text += as_str(get(get(call, "function"), "arguments")) or ""
            text += as_str(get(get(call, "custom"), "input")) or ""  # a custom tool's input
        return text
    kind = get(chunk, "type")
    if kind == "content_block_delta":
        delta = get(chunk, "delta")
        return as_str(get(delta, "text")) or as_str(get(delta, "partial_json"))
    if kind in _RESPONSES_TEXT:
        return as_str(get(chunk, "delta"))
    return None


# The Responses API events that carry answer text: output text, and tool-call input.
_RESPONSES_TEXT = frozenset(
    {
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "response.custom_tool_call_input.delta",
    }
)


def pass_through(stream: Any, llm: Span, finish: Finish, cap: OutputCap | None = None) -> Any:
    """Wrap ``stream`` so the call's records end when the caller is done with it.

    With a ``cap``, output tokens are counted as chunks pass, and the stream is closed
    when the next chunk would cross it: reading then stops (``"truncate"``) or raises
    `TokenLimitExceeded` (``"raise"``).
    """
    reading = _Reading(llm, finish, cap)
    if hasattr(stream, "__anext__"):
        return AsyncGuardedStream(stream, reading)
    return GuardedStream(stream, reading)
