"""Overhead of ``@lg.trace`` against a bare call and an OpenTelemetry SDK span.

Run: ``python benchmarks/bench_trace.py``. Every variant runs in this one process on
the same trivial function. Two figures per variant:

* *caller*: the median, over many short runs of 100 calls, of the time per call --
  what the application's thread sees;
* *amortized*: the time for 20,000 calls plus the flush that delivers their records,
  per call -- what the process pays in all, background delivery included.

Overheads are differences from the bare call.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import llmguard as lg

SHORT_RUNS = 2_000
SHORT_CALLS = 100
LONG_CALLS = 20_000
LONG_RUNS = 5


def work(x: int) -> int:
    return x + 1


def caller_ns(fn: Callable[[int], int]) -> float:
    samples = []
    for _ in range(SHORT_RUNS):
        start = time.perf_counter_ns()
        for i in range(SHORT_CALLS):
            fn(i)
        samples.append((time.perf_counter_ns() - start) / SHORT_CALLS)
    return statistics.median(samples)


def amortized_ns(fn: Callable[[int], int], flush: Callable[[], object]) -> float:
    samples = []
    for _ in range(LONG_RUNS):
        flush()
        start = time.perf_counter_ns()
        for i in range(LONG_CALLS):
            fn(i)
        flush()
        samples.append((time.perf_counter_ns() - start) / LONG_CALLS)
    return statistics.median(samples)


def otel_variant() -> tuple[Callable[[int], int], Callable[[], object]] | None:
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
    processor = BatchSpanProcessor(NoopExporter(), max_queue_size=LONG_CALLS * 2)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("bench")

    def otel_work(x: int) -> int:
        with tracer.start_as_current_span("work") as span:
            span.set_attribute("x", x)
            span.set_attribute("kind", "bench")
            span.set_attribute("model", "none")
            return work(x)

    return otel_work, provider.force_flush


def main() -> None:
    out = Path(tempfile.mkdtemp()) / "bench.jsonl"
    lg.configure(sinks=[lg.sinks.JSONLSink(out)], queue_size=LONG_CALLS * 2)
    traced = lg.trace(work)

    def flush() -> object:
        return lg.flush(timeout=60)

    def nothing() -> None:
        return None

    rows = [("bare call", caller_ns(work), amortized_ns(work, nothing))]
    rows.append(("@lg.trace, JSONL sink", caller_ns(traced), amortized_ns(traced, flush)))
    lg.configure(capture_content=False)
    rows.append(
        ("@lg.trace, JSONL sink, no content", caller_ns(traced), amortized_ns(traced, flush))
    )
    lg.configure(capture_content=True)
    otel = otel_variant()
    if otel is not None:
        otel_work, otel_flush = otel
        name = "OpenTelemetry span, batch processor"
        rows.append((name, caller_ns(otel_work), amortized_ns(otel_work, otel_flush)))

    bare_caller, bare_total = rows[0][1], rows[0][2]
    print(f"Python {sys.version.split()[0]}; added time per call (median)")
    print(f"{'variant':<38} {'caller':>10} {'amortized':>10}")
    for name, caller, total in rows[1:]:
        added_caller, added_total = (caller - bare_caller) / 1000, (total - bare_total) / 1000
        print(f"{name:<38} {added_caller:>8.2f}µs {added_total:>8.2f}µs")
    if otel is not None:
        ours, theirs = rows[1], rows[-1]
        print(
            "OpenTelemetry / llmguard: "
            f"caller {(theirs[1] - bare_caller) / (ours[1] - bare_caller):.1f}x, "
            f"amortized {(theirs[2] - bare_total) / (ours[2] - bare_total):.1f}x"
        )
    stats = lg.stats()
    print(f"llmguard records emitted {stats.emitted}, dropped {stats.dropped}")


if __name__ == "__main__":
    main()
