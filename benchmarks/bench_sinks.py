"""Throughput of the file sinks: records per second through ``emit`` in batches of 512.

Run with ``python benchmarks/bench_sinks.py [--records N] [--prefill N] [--sink NAME]``.
"cold" records are fresh objects, so ``emit`` also pays for serializing them to JSON --
what a sink sees in production and the headline number; "warm" records were serialized
beforehand and carry their cached JSON, isolating the cost of the write itself.
``--prefill`` writes that many records to each new file before the timing, to measure a
store that has been in use for a while: its indexes no longer fit in a few pages.
``--sink`` measures one sink only.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from llmguard._core.records import Record, Usage, iso_time
from llmguard.sinks import JSONLSink, SQLiteSink

BATCH = 512
TARGETS = {"JSONLSink": 200_000, "SQLiteSink": 100_000}


def make_records(count: int) -> list[Record]:
    """Records shaped like a guarded call's: an ``llm`` span and two ``attempt`` children.

    Ids are random like llmguard's own (128-bit trace, 64-bit span, in hex), so the
    indexes on them see the same scattered inserts as in production.
    """
    start_ns = time.time_ns()
    records = []
    trace_id = root_id = ""
    for index in range(count):
        begin = start_ns + index * 1_000_000
        if index % 3 == 0:
            trace_id = f"{random.getrandbits(128):032x}"
            root_id = f"{random.getrandbits(64):016x}"
        records.append(
            Record(
                trace_id=trace_id,
                span_id=root_id if index % 3 == 0 else f"{random.getrandbits(64):016x}",
                parent_id=None if index % 3 == 0 else root_id,
                kind="llm" if index % 3 == 0 else "attempt",
                name="support.triage",
                start=iso_time(begin),
                end=iso_time(begin + 842_000_000),
                duration_ms=842.0 + index % 97,
                status="ok" if index % 20 else "error",
                error_type=None if index % 20 else "SchemaViolation",
                service="support-bot",
                model="gpt-4o-mini",
                provider="openai",
                prompt_name="triage",
                prompt_version="3f9c2a1b",
                usage=Usage(input=412 + index % 50, output=38, total=450 + index % 50),
                cost_usd=0.0000846,
                price_table="2025-01",
                attempt={"number": 1, "outcome": "ok", "parse_stage": "strict"},
                finish_reason="stop",
                input={
                    "messages": [
                        {"role": "system", "content": "Classify support tickets."},
                        {"role": "user", "content": f"Ticket {index}: I was charged twice."},
                    ]
                },
                output={"category": "billing", "urgency": 3},
                tags=("prod", "eu"),
                metadata={"tenant": f"t-{index % 40}", "request_id": f"req-{index}"},
            )
        )
    return records


def batches(records: Sequence[Record]) -> list[Sequence[Record]]:
    return [records[i : i + BATCH] for i in range(0, len(records), BATCH)]


def measure(
    make_sink: Callable[[Path], JSONLSink | SQLiteSink],
    records: list[Record],
    prefill: Sequence[Record] = (),
) -> float:
    """Records per second emitting ``records`` into a new sink in a fresh directory.

    ``prefill`` is written first, outside the timing.
    """
    # In production records stream through a bounded queue; here all of them are alive
    # at once, which would make every garbage collection during the timing walk them.
    gc.collect()
    gc.freeze()
    with tempfile.TemporaryDirectory() as directory:
        sink = make_sink(Path(directory))
        # Open the file and create the schema outside the timing.
        sink.emit([dataclasses.replace(records[0])])
        for chunk in batches(prefill):
            sink.emit(chunk)
        chunks = batches(records)
        began = time.perf_counter()
        for chunk in chunks:
            sink.emit(chunk)
        elapsed = time.perf_counter() - began
        sink.close()
    gc.unfreeze()
    return len(records) / elapsed


def measure_to_json(records: list[Record]) -> float:
    """Records per second through ``Record.to_json`` alone: what "cold" adds to a sink."""
    gc.collect()
    gc.freeze()
    began = time.perf_counter()
    for record in records:
        record.to_json()
    elapsed = time.perf_counter() - began
    gc.unfreeze()
    return len(records) / elapsed


SINKS: dict[str, Callable[[Path], JSONLSink | SQLiteSink]] = {
    "JSONLSink": lambda d: JSONLSink(d / "bench.jsonl"),
    "SQLiteSink": lambda d: SQLiteSink(d / "bench.db"),
}


@dataclass(frozen=True)
class SinkResult:
    """Records per second of every run: cold (serialization included) and warm."""

    cold: list[float]
    warm: list[float]


def measure_all(
    count: int = 100_000, rounds: int = 3, prefill: int = 0, only: str | None = None
) -> tuple[list[float], dict[str, SinkResult]]:
    """``Record.to_json`` alone, then every sink (or ``only`` that one) cold and warm,
    ``rounds`` runs each.

    The sinks take turns run by run, so a slow spell of the machine reaches them alike.
    Each run starts from a file holding ``prefill`` records.
    """
    sinks = {label: make for label, make in SINKS.items() if only in (None, label)}
    serialize = [measure_to_json(make_records(count)) for _ in range(rounds)]
    cold: dict[str, list[float]] = {label: [] for label in sinks}
    warm: dict[str, list[float]] = {label: [] for label in sinks}
    warm_records = make_records(count)
    earlier = make_records(prefill)
    for record in [*warm_records, *earlier]:
        record.to_json()
    for _ in range(rounds):
        for label, make_sink in sinks.items():
            cold[label].append(measure(make_sink, make_records(count), earlier))
            warm[label].append(measure(make_sink, warm_records, earlier))
    return serialize, {label: SinkResult(cold[label], warm[label]) for label in sinks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each measurement")
    parser.add_argument("--prefill", type=int, default=0, help="records in a file beforehand")
    parser.add_argument("--sink", choices=sorted(SINKS), help="measure only this sink")
    args = parser.parse_args()
    count, rounds, prefill = args.records, args.rounds, args.prefill
    serialize, results = measure_all(count, rounds, prefill, args.sink)
    print(
        f"{count:,} records, batches of {BATCH}, into files holding {prefill:,}; "
        f"median (lowest-highest) of {rounds} runs"
    )
    print(f"Record.to_json alone: {_spread(serialize)} records/s (included in every cold number)")
    print(f"{'sink':<12}{'cold rec/s':>30}{'warm rec/s':>30}{'target':>10}  ok")
    for label, result in results.items():
        target = TARGETS[label]
        verdict = "yes" if statistics.median(result.cold) >= target else "NO"
        print(
            f"{label:<12}{_spread(result.cold):>30}{_spread(result.warm):>30}"
            f"{target:>10,}  {verdict}"
        )


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


if __name__ == "__main__":
    main()
