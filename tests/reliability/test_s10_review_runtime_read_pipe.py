"""`read_records` on a pipe carrying an SQLite store: a store cannot be read from a
pipe (SQLite needs the file), and the error says so instead of that the path, which
exists, holds no store."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import pytest

from llmguard._core.records import Record
from llmguard.sinks import SQLiteSink, read_records


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_store_sent_through_a_pipe_is_refused_by_name(tmp_path: Path) -> None:
    """The pipe's first bytes are a store's header: ValueError naming the pipe."""
    store = tmp_path / "calls.db"
    sink = SQLiteSink(store)
    sink.emit(
        [
            Record(
                trace_id="1" * 32,
                span_id="2" * 16,
                name="call",
                start="2026-01-01T00:00:00.000000Z",
                end="2026-01-01T00:00:01.000000Z",
                duration_ms=1000.0,
            )
        ]
    )
    sink.close()
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)

    def feed() -> None:
        # the reader stops at the header
        with contextlib.suppress(BrokenPipeError), open(pipe, "wb") as out:
            out.write(store.read_bytes())

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    with pytest.raises(ValueError, match="pipe") as caught:
        list(read_records(pipe))
    assert str(pipe) in str(caught.value)
    writer.join(10)
