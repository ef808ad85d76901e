"""Streams open at interpreter exit, attacked further: a fork, a sink that fails under
``strict=True``, a generator open in a daemon thread, one whose ``close()`` raises.
Each open stream gives exactly one record, in the process that opened it."""

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


def _streams(tmp_path: Path) -> list[tuple[int, int, str]]:
    records = [r for r in read_records(tmp_path / "out.jsonl") if r.stream is not None]
    return sorted((r.input["n"], r.stream.items, r.stream.end) for r in records if r.stream)


def test_a_forked_child_does_not_record_its_parent_s_open_generator(tmp_path: Path) -> None:
    """The child of a fork exits normally without touching the generator its parent
    had open: only the parent records it, once (the child wrote a copy at its exit)."""
    _run(
        """
        import os, sys, warnings
        import llmguard as lg
        lg.configure(sinks=[lg.sinks.JSONLSink("out.jsonl")])

        @lg.trace
        def words(n):
            for i in range(n):
                yield i

        held = words(4)
        next(held)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            sys.exit(0)
        os.waitpid(pid, 0)
        next(held)
        """,
        tmp_path,
    )
    assert _streams(tmp_path) == [(4, 2, "interrupted")]


def test_a_stream_the_child_opened_after_the_fork_is_its_own(tmp_path: Path) -> None:
    """A generator the child opens itself is still recorded at the child's exit."""
    _run(
        """
        import os, sys, warnings
        import llmguard as lg
        lg.configure(sinks=[lg.sinks.JSONLSink("out.jsonl")])

        @lg.trace
        def words(n):
            for i in range(n):
                yield i

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            held = words(7)
            next(held)
            sys.exit(0)
        os.waitpid(pid, 0)
        """,
        tmp_path,
    )
    assert _streams(tmp_path) == [(7, 1, "interrupted")]


def test_a_strict_sink_failing_at_exit_costs_only_its_own_stream(tmp_path: Path) -> None:
    """Under ``strict=True`` a sink raises while the first open stream is ended at exit:
    the other open streams are still ended and written (the first failure ended the
    loop, and the rest were lost)."""
    err = _run(
        """
        import llmguard as lg

        class Flaky:
            failed = False
            def emit(self, batch):
                if not Flaky.failed:
                    Flaky.failed = True
                    raise RuntimeError("sink down")
            def flush(self, timeout=None):
                pass
            def close(self):
                pass

        lg.configure(sinks=[lg.sinks.JSONLSink("out.jsonl"), Flaky()], strict=True)

        @lg.trace
        def words(n):
            for i in range(n):
                yield i

        held = [words(n) for n in (3, 4, 5)]
        for stream in held:
            next(stream)
        """,
        tmp_path,
    )
    ended = [(3, 1, "interrupted"), (4, 1, "interrupted"), (5, 1, "interrupted")]
    assert _streams(tmp_path) == ended
    assert "sink down" in err


def test_a_generator_open_in_a_daemon_thread_is_recorded_once(tmp_path: Path) -> None:
    """A daemon thread is inside the generator's body at exit: the record says what it
    had delivered, ``interrupted``, once."""
    _run(
        """
        import threading
        import llmguard as lg
        lg.configure(sinks=[lg.sinks.JSONLSink("out.jsonl")])
        inside = threading.Event()

        @lg.trace
        def words(n):
            yield 0
            yield 1
            inside.set()
            threading.Event().wait()  # never set
            yield 2

        def read():
            for _ in words(9):
                pass

        threading.Thread(target=read, daemon=True).start()
        assert inside.wait(10)
        """,
        tmp_path,
    )
    assert _streams(tmp_path) == [(9, 2, "interrupted")]


def test_a_generator_whose_close_raises_at_exit_is_recorded_once(tmp_path: Path) -> None:
    """Its ``close()`` raising when the interpreter finalizes it after the exit record
    adds no second record and no warning of llmguard's."""
    err = _run(
        """
        import llmguard as lg
        lg.configure(sinks=[lg.sinks.JSONLSink("out.jsonl")])

        @lg.trace
        def words(n):
            try:
                for i in range(n):
                    yield i
            finally:
                raise ValueError("close failed")

        held = words(6)
        next(held)
        """,
        tmp_path,
    )
    assert _streams(tmp_path) == [(6, 1, "interrupted")]
    assert "llmguard:" not in err  # Python's own "Exception ignored" only


def test_records_queued_at_exit_reach_an_otel_provider_made_after_import(
    tmp_path: Path,
) -> None:
    """An OpenTelemetry ``TracerProvider`` created after ``import llmguard`` registers
    its own shutdown at exit, which ran first: every record the last flush handed over
    (the queued spans, the stream ended at exit) was refused ("Processor is already
    shutdown"). Delivery's exit handler now runs before it."""
    err = _run(
        """
        import llmguard as lg
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
        from opentelemetry.sdk.trace.export import SpanExportResult

        class Exporter(SpanExporter):
            def export(self, spans):
                with open("out.txt", "a") as out:
                    out.writelines(f"{span.name}\\n" for span in spans)
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(Exporter()))
        lg.configure(sinks=[lg.sinks.OTelSink(tracer_provider=provider)])

        @lg.trace(name="words")
        def words():
            yield 1
            yield 2

        held = words()
        next(held)
        for number in range(20):
            with lg.span(f"s{number}"):
                pass
        """,
        tmp_path,
    )
    names = (tmp_path / "out.txt").read_text().split()
    assert sorted(names) == sorted(["words", *(f"s{n}" for n in range(20))])
    assert "already shutdown" not in err
