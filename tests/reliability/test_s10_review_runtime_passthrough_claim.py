"""A guarded stream handed to the caller, finished on a daemon thread at the very moment
the exit ends the streams still open: its records are written once, by whichever of the
two claimed the end first. The interleaving is forced with a line tracer and events."""

from __future__ import annotations

import sys
import threading
from types import FrameType
from typing import Any

from llmguard._guard.passthrough import _Reading, pass_through
from llmguard._tracing import open_streams
from llmguard._tracing.spans import Span
from llmguard.adapters import Reply
from llmguard.testing import capture

_END = _Reading.end.__code__


def _watched(chunks: list[str]) -> tuple[Any, list[BaseException | None]]:
    finished: list[BaseException | None] = []

    def finish(reply: Reply | None, error: BaseException | None) -> None:
        finished.append(error)

    return pass_through(iter(chunks), Span("chat", "llm").start(), finish), finished


def _hold_after_first_statement(inside: threading.Event, release: threading.Event) -> Any:
    """A tracer that stops the thread in `_Reading.end` once its first statement ran:
    the check of whether the end is already taken (and, with a claim, the claim)."""

    def local(frame: FrameType, event: str, arg: object) -> Any:
        if event == "line":
            lines = seen.setdefault(id(frame), 0) + 1
            seen[id(frame)] = lines
            if lines == 2:
                inside.set()
                release.wait(10)
        return local

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        return local if frame.f_code is _END else None

    seen: dict[int, int] = {}
    return tracer


def test_a_stream_finished_while_the_exit_ends_it_is_recorded_once() -> None:
    """The daemon thread exhausts the stream and is held in ``end`` just past its
    check; the exit's step runs then. Both wrote the llm record and called finish."""
    inside, release = threading.Event(), threading.Event()
    with capture() as records:
        stream, finished = _watched(["a", "b"])
        assert next(stream) == "a"

        def drain() -> None:
            sys.settrace(_hold_after_first_statement(inside, release))
            try:
                assert list(stream) == ["b"]
            finally:
                sys.settrace(None)

        daemon = threading.Thread(target=drain, daemon=True)
        daemon.start()
        assert inside.wait(10)
        open_streams._end_open_streams()  # what the exit runs before its last flush
        release.set()
        daemon.join(10)
        assert not daemon.is_alive()
    assert finished == [None]
    assert len(records) == 1
    assert records[0].stream is not None
    assert (records[0].stream.end, records[0].stream.items) == ("exhausted", 2)


def test_the_exit_claiming_first_leaves_the_stream_nothing_to_record() -> None:
    """The other order: the exit ends the stream as ``interrupted`` and is held past
    its check while the daemon thread exhausts the stream; still one record."""
    inside, release = threading.Event(), threading.Event()
    with capture() as records:
        stream, finished = _watched(["a", "b"])
        assert next(stream) == "a"

        def drain() -> None:
            assert inside.wait(10)
            assert list(stream) == ["b"]
            release.set()

        def exit_step() -> None:
            # On a thread of its own: a tracer set on the test's thread would replace
            # coverage's there for the rest of the session.
            sys.settrace(_hold_after_first_statement(inside, release))
            try:
                open_streams._end_open_streams()
            finally:
                sys.settrace(None)

        daemon = threading.Thread(target=drain, daemon=True)
        daemon.start()
        exiting = threading.Thread(target=exit_step, daemon=True)
        exiting.start()
        exiting.join(10)
        daemon.join(10)
        assert not exiting.is_alive()
        assert not daemon.is_alive()
    assert finished == [None]
    assert len(records) == 1
    assert records[0].stream is not None
    # the chunk the daemon read while the exit was held is counted: the caller got it
    assert (records[0].stream.end, records[0].stream.items) == ("interrupted", 2)
