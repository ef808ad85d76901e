"""A traced generator still open at interpreter exit is recorded, with what it delivered.

DESIGN.md: "a half-read stream is still recorded, with what it delivered". A generator
kept in a module global is only finalized after llmguard's last flush at exit; its span
is ended before that flush instead, its stream marked ``interrupted``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from llmguard.sinks import read_records
from tests._helpers.reliability import run_child


def _run(code: str, tmp_path: Path) -> str:
    child = run_child(code, tmp_path)
    try:
        _, err = child.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # pragma: no cover - the failure itself
        child.kill()
        child.communicate()
        raise
    assert child.returncode == 0, err.decode()
    return err.decode()


def test_a_half_read_generator_in_a_global_is_recorded_at_exit(tmp_path: Path) -> None:
    """Its record reaches the JSONL file: the items it delivered, ``interrupted`` at exit;
    the generators that ended normally keep their own ends, and nothing is reported lost."""
    err = _run(
        """
        import llmguard as lg
        lg.configure(sinks=[lg.sinks.JSONLSink("out.jsonl")])

        @lg.trace
        def words(n):
            for i in range(n):
                yield f"w{i}"

        held = words(5)
        next(held)
        next(held)
        kept = {"streams": [words(3)]}
        next(kept["streams"][0])
        done = list(words(2))
        """,
        tmp_path,
    )
    records = [r for r in read_records(tmp_path / "out.jsonl") if r.name.endswith("words")]
    streams = sorted((r.input["n"], r.stream.items, r.stream.end) for r in records if r.stream)
    assert streams == [(2, 2, "exhausted"), (3, 1, "interrupted"), (5, 2, "interrupted")]
    assert all(r.status == "ok" for r in records)
    assert "lost" not in err


def test_a_generator_closed_before_exit_is_not_recorded_twice(tmp_path: Path) -> None:
    """One record per generator: one closed by the program keeps ``closed``, and the
    exit hook leaves it alone."""
    _run(
        """
        import llmguard as lg
        lg.configure(sinks=[lg.sinks.JSONLSink("out.jsonl")])

        @lg.trace
        def words():
            yield "a"
            yield "b"

        held = words()
        next(held)
        held.close()
        """,
        tmp_path,
    )
    ends = [r.stream.end for r in read_records(tmp_path / "out.jsonl") if r.stream]
    assert ends == ["closed"]


def test_a_half_read_guarded_stream_in_a_global_is_recorded_at_exit(tmp_path: Path) -> None:
    """A guarded function's stream, passed through to the caller and half-read in a
    global: its ``llm`` and attempt records reach the file, ``interrupted`` at exit."""
    _run(
        """
        import llmguard as lg
        from llmguard.testing import FakeLLM
        lg.configure(sinks=[lg.sinks.JSONLSink("out.jsonl")])
        llm = FakeLLM(["hello there friend"], model="gpt-4o-mini", stream=True)

        @lg.guard(model="gpt-4o-mini")
        def ask(messages):
            return llm(model="gpt-4o-mini", messages=messages, stream=True)

        held = iter(ask([{"role": "user", "content": "hi"}]))
        next(held)
        next(held)
        """,
        tmp_path,
    )
    records = list(read_records(tmp_path / "out.jsonl"))
    assert sorted(r.kind for r in records) == ["attempt", "llm"]
    [llm] = [r for r in records if r.kind == "llm"]
    assert llm.stream is not None
    assert (llm.stream.items, llm.stream.end) == (2, "interrupted")
