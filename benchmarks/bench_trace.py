"""Overhead of ``@lg.trace`` and ``@lg.guard`` against a bare call and an OpenTelemetry span.

Run: ``python benchmarks/bench_trace.py``. Every variant runs in this one process on
the same trivial function, the llmguard ones with a JSONL sink. Two figures per variant:

* *caller*: the median, over many rounds, of the time per call of a batch of calls --
  what the application's thread sees. The variants take turns batch by batch, and the
  records of one round are delivered (llmguard flushed, OpenTelemetry force-flushed)
  before the next, untimed, so background delivery never lands inside a timed batch;
* *amortized*: the time for many calls plus the flush that delivers their records, per
  call -- what the process pays in all, background delivery included.

Overheads are differences from the bare call. ``@lg.trace`` inside ``@lg.trace`` writes
the same two records as a guarded call (the call and its attempt), with nothing of the
guard's policy: the floor under the guard. The OpenTelemetry span has three
attributes, a ``BatchSpanProcessor`` and an exporter that does nothing; llmguard's
records are written to a file.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _timing import amortized_ns, interleaved_ns

import llmguard as lg

BARE = "bare call"
TRACE = "@lg.trace, JSONL sink"
GUARD = "@lg.guard (no schema), JSONL sink"
NESTED = "@lg.trace in @lg.trace (two records), JSONL sink"
OTEL = "OpenTelemetry span, BatchSpanProcessor"
TRACE_NO_CONTENT = "@lg.trace, JSONL sink, capture_content=False"


@dataclass(frozen=True)
class TraceResult:
    """Medians in ns per call, by variant; ``dropped`` counts records llmguard dropped."""

    caller_ns: dict[str, float]
    amortized_ns: dict[str, float]
    dropped: int

    def added_us(self, variant: str, amortized: bool = False) -> float:
        """What ``variant`` adds to the bare call, in µs."""
        figures = self.amortized_ns if amortized else self.caller_ns
        return (figures[variant] - figures[BARE]) / 1000


def work(x: int) -> int:
    return x + 1


def otel_span() -> tuple[Callable[[int], int], Callable[[], object], Callable[[], object]] | None:
    """``work`` inside an OpenTelemetry SDK span, its flush and its shutdown; or None."""
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )
    except ImportError:
        return None

    class NoopExporter(SpanExporter):
        def export(self, spans: object) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoopExporter(), max_queue_size=100_000))
    tracer = provider.get_tracer("bench")

    def otel_work(x: int) -> int:
        with tracer.start_as_current_span("work") as span:
            span.set_attribute("x", x)
            span.set_attribute("kind", "bench")
            span.set_attribute("model", "none")
            return work(x)

    return otel_work, provider.force_flush, provider.shutdown


def measure(
    rounds: int = 2_000, batch: int = 100, long_calls: int = 20_000, long_runs: int = 5
) -> TraceResult:
    """Time every variant; see the module docstring."""
    otel = otel_span()
    with tempfile.TemporaryDirectory() as folder:
        # Room for every record of an amortized run (a guarded call makes two), so
        # that none is dropped: a dropped record would be cheaper than a delivered one.
        lg.configure(
            sinks=[lg.sinks.JSONLSink(Path(folder) / "bench.jsonl")],
            queue_size=max(10_000, 3 * long_calls),
            capture_content=True,
        )
        try:
            traced, guarded = lg.trace(work), lg.guard(work)

            @lg.trace
            def outer(x: int) -> int:
                return traced(x)

            def flush() -> object:
                return lg.flush(timeout=60)

            def nothing() -> None:
                return None

            calls: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
                (BARE, lambda: work(1), nothing),
                (TRACE, lambda: traced(1), flush),
                (GUARD, lambda: guarded(1), flush),
                (NESTED, lambda: outer(1), flush),
            ]
            if otel is not None:
                otel_work, otel_flush, _ = otel
                calls.append((OTEL, lambda: otel_work(1), otel_flush))

            def deliver() -> None:
                for _, _, flush_one in calls:
                    flush_one()

            caller = interleaved_ns(
                [(name, fn) for name, fn, _ in calls], rounds, batch, batch, deliver
            )
            total = amortized_ns(calls, long_runs, long_calls)

            lg.configure(capture_content=False)
            plain = [calls[0], (TRACE_NO_CONTENT, lambda: traced(1), flush)]
            caller |= interleaved_ns(
                [(name, fn) for name, fn, _ in plain], rounds, batch, batch, deliver
            )
            total |= amortized_ns(plain, long_runs, long_calls)
            dropped = lg.stats().dropped + sum(s.dropped for s in lg.stats().sinks)
        finally:
            lg.configure(sinks=[], capture_content=True)
            if otel is not None:
                otel[2]()
    return TraceResult(
        caller_ns={name: statistics.median(times) for name, times in caller.items()},
        amortized_ns={name: statistics.median(times) for name, times in total.items()},
        dropped=dropped,
    )


def main() -> None:
    result = measure()
    print(f"added time per call, µs (median); llmguard dropped {result.dropped} records")
    print(f"{'variant':<46} {'caller':>8} {'amortized':>10}")
    for name in result.caller_ns:
        if name != BARE:
            caller, total = result.added_us(name), result.added_us(name, amortized=True)
            print(f"{name:<46} {caller:>8.2f} {total:>10.2f}")
    if OTEL in result.caller_ns:
        for name in (TRACE, GUARD):
            print(
                f"OpenTelemetry / {name}: "
                f"caller {result.added_us(OTEL) / result.added_us(name):.1f}x, amortized "
                f"{result.added_us(OTEL, True) / result.added_us(name, True):.1f}x"
            )


if __name__ == "__main__":
    main()
