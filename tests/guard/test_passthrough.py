"""Tests for _guard.passthrough: streams handed back while llmguard reads along."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import llmguard as lg
from llmguard import Record
from llmguard._guard.passthrough import AsyncGuardedStream, GuardedStream, pass_through
from llmguard._tracing.spans import Span
from llmguard.adapters import Reply
from llmguard.testing import FakeLLM, capture
from llmguard.types import StreamInfo
from tests._helpers.sdk_mocks import chat_chunks


class Chunks:
    """A closable iterator of chunks with an attribute of its own, like the SDKs' streams."""

    def __init__(self, items: list[Any], fail_after: int | None = None) -> None:
        self.items = iter(items)
        self.fail_after = fail_after
        self.read = 0
        self.closed = False
        self.response = "the http response"

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self.fail_after is not None and self.read == self.fail_after:
            raise ConnectionError("stream broke")
        self.read += 1
        return next(self.items)

    def close(self) -> None:
        self.closed = True


def watched(stream: Any) -> tuple[Any, list[tuple[Reply | None, BaseException | None]]]:
    """The stream passed through under an llm span, and what its finish was given."""
    finished: list[tuple[Reply | None, BaseException | None]] = []

    def finish(reply: Reply | None, error: BaseException | None) -> None:
        finished.append((reply, error))

    return pass_through(stream, Span("chat", "llm").start(), finish), finished


def llm_record(records: list[Record]) -> Record:
    (record,) = records
    return record


def openai_chunks(pieces: list[str]) -> list[dict[str, Any]]:
    return chat_chunks(pieces, usage=(9, 2))


# -- sync ------------------------------------------------------------------------------


def test_chunks_pass_unchanged_and_the_reply_accumulates() -> None:
    """The caller gets the very same chunk objects; the finish gets the whole reply."""
    chunks = openai_chunks(["Hel", "lo"])
    with capture() as records:
        stream, finished = watched(Chunks(chunks))
        assert isinstance(stream, GuardedStream)
        read = list(stream)
    assert all(a is b for a, b in zip(read, chunks, strict=True))
    ((reply, error),) = finished
    assert error is None
    assert reply is not None
    assert (reply.text, reply.usage and reply.usage.total) == ("Hello", 11)
    assert llm_record(records).stream == StreamInfo(items=len(chunks), end="exhausted")


def test_other_attributes_are_the_streams() -> None:
    """Anything but iteration and closing is the wrapped stream's own attribute."""
    stream, _ = watched(Chunks([]))
    assert stream.response == "the http response"
    assert stream.read == 0


def test_close_closes_the_stream_and_records_once() -> None:
    """close() closes the wrapped stream; a second close or a drop records nothing more."""
    inner = Chunks(openai_chunks(["a", "b", "c"]))
    with capture() as records:
        stream, finished = watched(inner)
        next(stream)
        stream.close()
        stream.close()
        del stream
        gc.collect()
    assert inner.closed
    assert len(finished) == 1
    assert llm_record(records).stream == StreamInfo(items=1, end="closed")


def test_with_block_closes_the_stream() -> None:
    """Leaving a with block over the stream closes it."""
    inner = Chunks(openai_chunks(["a"]))
    with capture() as records:
        stream, _ = watched(inner)
        with stream as same:
            assert same is stream
            next(same)
    assert inner.closed
    assert llm_record(records).stream == StreamInfo(items=1, end="closed")


def test_dropped_stream_is_recorded_when_collected() -> None:
    """A stream read halfway and dropped is recorded with what it delivered."""
    with capture() as records:
        stream, finished = watched(Chunks(openai_chunks(["a", "b", "c"])))
        next(stream)
        next(stream)
        del stream
        gc.collect()
    assert llm_record(records).stream == StreamInfo(items=2, end="closed")
    ((reply, _),) = finished
    assert reply is not None
    assert reply.text == "a"


def test_error_in_the_stream_is_raised_and_recorded() -> None:
    """An error mid-stream reaches the caller unchanged and marks the record failed."""
    with capture() as records:
        stream, finished = watched(Chunks(openai_chunks(["a", "b"]), fail_after=2))
        next(stream)
        next(stream)
        with pytest.raises(ConnectionError, match="stream broke") as excinfo:
            next(stream)
    ((_, error),) = finished
    assert error is excinfo.value
    record = llm_record(records)
    assert record.stream == StreamInfo(items=2, end="error")
    assert (record.status, record.error_type) == ("error", "ConnectionError")


def test_unreadable_chunks_never_break_the_stream() -> None:
    """Chunks of an unknown shape pass through; the finish gets no reply."""
    items = [object(), 42, None]
    with capture() as records:
        stream, finished = watched(iter(items))
        assert list(stream) == items
    assert finished == [(None, None)]
    assert llm_record(records).stream == StreamInfo(items=3, end="exhausted")


def test_a_failing_finish_does_not_reach_the_caller() -> None:
    """If recording fails, the caller's stream still ends normally."""

    def finish(reply: Reply | None, error: BaseException | None) -> None:
        raise RuntimeError("recording failed")

    stream = pass_through(iter(["a", "b"]), Span("chat", "llm").start(), finish)
    assert list(stream) == ["a", "b"]


def test_text_streams_accumulate_their_text() -> None:
    """A stream of plain strings (a local model) accumulates as text."""
    stream, finished = watched(iter(["Hel", "lo"]))
    assert "".join(stream) == "Hello"
    ((reply, _),) = finished
    assert reply is not None
    assert reply.text == "Hello"


# -- async -----------------------------------------------------------------------------


async def agen(items: list[Any], fail: BaseException | None = None) -> AsyncIterator[Any]:
    for item in items:
        yield item
    if fail is not None:
        raise fail


async def test_async_stream_passes_chunks_and_records_exhaustion() -> None:
    """An async stream is wrapped as one and recorded when exhausted."""
    chunks = openai_chunks(["Hi"])
    with capture() as records:
        stream, finished = watched(agen(chunks))
        assert isinstance(stream, AsyncGuardedStream)
        read = [chunk async for chunk in stream]
    assert read == chunks
    ((reply, _),) = finished
    assert reply is not None
    assert reply.text == "Hi"
    assert llm_record(records).stream == StreamInfo(items=len(chunks), end="exhausted")


async def test_async_close_aclose_and_async_with() -> None:
    """close() (the SDKs' name), aclose() and async with all close and record."""
    for how in ("close", "aclose", "with"):
        inner = agen(["a", "b", "c"])
        with capture() as records:
            stream, _ = watched(inner)
            if how == "with":
                async with stream:
                    await stream.__anext__()
            else:
                await stream.__anext__()
                await getattr(stream, how)()
        assert llm_record(records).stream == StreamInfo(items=1, end="closed")
        with pytest.raises(StopAsyncIteration):
            await inner.__anext__()  # closed for real


async def test_async_stream_error_and_cancellation() -> None:
    """An error ends the record as error; a cancellation as cancelled."""
    with capture() as records:
        stream, _ = watched(agen(["a"], fail=ConnectionError("broke")))
        await stream.__anext__()
        with pytest.raises(ConnectionError):
            await stream.__anext__()
    assert llm_record(records).stream == StreamInfo(items=1, end="error")

    with capture() as records:
        stream, _ = watched(agen(["a"], fail=asyncio.CancelledError()))
        await stream.__anext__()
        with pytest.raises(asyncio.CancelledError):
            await stream.__anext__()
    assert llm_record(records).stream == StreamInfo(items=1, end="cancelled")


async def test_async_stream_dropped_is_recorded() -> None:
    """An async stream read halfway and dropped is recorded on garbage collection."""
    with capture() as records:
        stream, _ = watched(agen(["a", "b", "c"]))
        await stream.__anext__()
        del stream
        gc.collect()
    assert llm_record(records).stream == StreamInfo(items=1, end="closed")


async def test_async_stream_with_a_sync_close() -> None:
    """A stream whose close() is a plain method is closed all the same."""

    class SyncClose:
        def __init__(self) -> None:
            self.closed = False

        def __aiter__(self) -> SyncClose:
            return self

        async def __anext__(self) -> str:
            return "x"

        def close(self) -> None:
            self.closed = True

    inner = SyncClose()
    stream, _ = watched(inner)
    await stream.__anext__()
    await stream.aclose()
    assert inner.closed


CAPPED_TEXT = "one two three four five six seven eight nine ten eleven twelve " * 3


def _capped(mode: str, fake: FakeLLM) -> Any:
    @lg.guard(max_output_tokens=10, on_output_overflow=mode)  # type: ignore[call-overload]
    def chat(messages: Any, **options: Any) -> Any:
        return fake(messages=messages, **options)

    return chat


def _text(chunks: Any) -> str:
    return "".join(getattr(c.choices[0].delta, "content", "") or "" for c in chunks if c.choices)


def test_stream_is_cut_at_the_output_cap_when_truncating() -> None:
    """A function that can't take the cap: llmguard ends the stream before it crosses."""
    fake = FakeLLM([CAPPED_TEXT], stream=True)
    with capture() as records:
        text = _text(list(_capped("truncate", fake)([{"role": "user", "content": "count"}])))
    assert 0 < len(text) < len(CAPPED_TEXT)
    assert lg.count_tokens(text) <= 10
    (llm,) = [r for r in records if r.kind == "llm"]
    assert llm.status == "ok"
    assert llm.stream is not None
    assert llm.stream.end == "closed"


def test_stream_over_the_output_cap_raises_when_asked() -> None:
    """on_output_overflow='raise': the reader gets TokenLimitExceeded; the record says limit."""
    fake = FakeLLM([CAPPED_TEXT], stream=True)
    stream = _capped("raise", fake)([{"role": "user", "content": "count"}])
    received: list[Any] = []
    with capture() as records, pytest.raises(lg.TokenLimitExceeded) as raised:
        received.extend(stream)
    assert raised.value.limit == "max_output_tokens"
    assert raised.value.maximum == 10
    assert raised.value.used > 10
    assert len(received) > 0
    (llm,) = [r for r in records if r.kind == "llm"]
    assert llm.status == "limit"


def test_output_cap_given_to_the_function_is_left_to_the_model() -> None:
    """When the function takes max_tokens, the cap is sent and the stream is not cut."""
    fake = FakeLLM([CAPPED_TEXT], stream=True)

    @lg.guard(max_output_tokens=10)
    def chat(messages: Any, max_tokens: int | None = None) -> Any:
        return fake(messages=messages, max_tokens=max_tokens)

    assert _text(list(chat([{"role": "user", "content": "count"}]))) == CAPPED_TEXT
    assert fake.calls[0]["max_tokens"] == 10


async def test_async_stream_is_cut_at_the_output_cap() -> None:
    """The same cap on an async stream ends iteration before the crossing chunk."""
    fake = FakeLLM([CAPPED_TEXT], stream=True)

    @lg.guard(max_output_tokens=10, on_output_overflow="truncate")
    async def chat(messages: Any) -> Any:
        return await fake.acall(messages=messages)

    stream = await chat([{"role": "user", "content": "count"}])
    chunks = [chunk async for chunk in stream]
    assert 0 < len(_text(chunks)) < len(CAPPED_TEXT)
