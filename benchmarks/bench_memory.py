"""Memory under a stalled sink: a million traced calls while the only sink never returns.

Run: ``python benchmarks/bench_memory.py [--records N] [--json]``. The sink's ``emit``
blocks on an event that is set only at the end, as a sink whose backend hangs would.
llmguard must keep its memory bounded anyway: records beyond the bounded queue and the
sink's bounded backlog are dropped *and counted*. The process's resident set size
(``VmRSS`` in ``/proc/self/status``) is read before the calls and every few thousand
calls during them; the growth is the highest reading minus the first. Target: under
50 MB. Run by ``run.py`` in a fresh interpreter, so nothing else the process did moves
the baseline.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import llmguard as lg
from llmguard.types import DeliveryStats

TARGET_MB = 50.0


class StalledSink:
    """A sink whose ``emit`` waits until `release` is set -- forever, unless it is."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def emit(self, batch: Sequence[lg.Record]) -> None:
        self.release.wait()

    def flush(self, timeout: float | None = None) -> None:
        return None

    def close(self) -> None:
        self.release.set()


@dataclass(frozen=True)
class StalledResult:
    """What a run under a stalled sink left behind.

    Attributes:
        records: Traced calls made while the sink was stalled.
        baseline_mb: Resident set size before them.
        growth_mb: Highest resident set size seen during them, minus the baseline.
        emitted: Records llmguard counted as emitted.
        dropped_queue: Dropped because the delivery queue was full.
        dropped_sink: Dropped because the stalled sink's backlog was full.
        pending: Held for the sink (its backlog, and the batch stuck in ``emit``).
        delivered: Delivered to the sink (zero while it is stalled).
        extra: Dropped + pending + delivered, minus emitted: zero, or the few
            ``internal`` records llmguard adds about its own trouble (a sink stalled
            for more than 10 s is reported that way, to every sink). Negative would mean
            records lost without being counted.
    """

    records: int
    baseline_mb: float
    growth_mb: float
    emitted: int
    dropped_queue: int
    dropped_sink: int
    pending: int
    delivered: int
    extra: int

    @property
    def accounted(self) -> bool:
        """Every emitted record is dropped, pending or delivered -- none unaccounted for."""
        return 0 <= self.extra <= 10


def rss_mb() -> float:
    """This process's resident set size, from ``/proc/self/status``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def work(x: int) -> int:
    return x + 1


def stalled(records: int = 1_000_000, queue_size: int | None = None) -> StalledResult:
    """Make ``records`` traced calls while the only sink is stalled; see the module doc."""
    sink = StalledSink()
    options = {} if queue_size is None else {"queue_size": queue_size}
    lg.configure(sinks=[sink], capture_content=True, **options)  # type: ignore[arg-type]
    traced = lg.trace(work)
    try:
        traced(0)  # starts the delivery threads, so their stacks are in the baseline
        gc.collect()
        baseline = peak = rss_mb()
        sample_every = max(1, min(10_000, records // 20))
        for i in range(records):
            traced(i)
            if i % sample_every == 0:
                peak = max(peak, rss_mb())
        # Let the dispatcher hand what is queued or in its hands to the sink's backlog.
        deadline = time.monotonic() + 30
        stats = lg.stats()
        while _held(stats) < stats.emitted and time.monotonic() < deadline:
            time.sleep(0.01)
            peak = max(peak, rss_mb())
            stats = lg.stats()
    finally:
        sink.release.set()
        lg.configure(sinks=[])
    (lane,) = stats.sinks
    return StalledResult(
        records=records,
        baseline_mb=baseline,
        growth_mb=peak - baseline,
        emitted=stats.emitted,
        dropped_queue=stats.dropped,
        dropped_sink=lane.dropped,
        pending=lane.pending,
        delivered=lane.delivered,
        extra=_held(stats) - stats.emitted,
    )


def _held(stats: DeliveryStats) -> int:
    """Records dropped anywhere, pending at the sink or delivered to it."""
    return stats.dropped + sum(s.dropped + s.pending + s.delivered for s in stats.sinks)


def in_fresh_process(records: int, queue_size: int | None = None) -> StalledResult:
    """`stalled` in a new interpreter running this file, so the baseline is its own."""
    argv = [sys.executable, __file__, "--records", str(records), "--json"]
    if queue_size is not None:
        argv += ["--queue-size", str(queue_size)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    return StalledResult(**json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--queue-size", type=int)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    result = stalled(args.records, args.queue_size)
    if args.json:
        print(json.dumps(dataclasses.asdict(result)))
        return
    verdict = "yes" if result.growth_mb < TARGET_MB else "NO"
    print(
        f"{result.records:,} traced calls, sink stalled: RSS {result.baseline_mb:.0f} MB "
        f"+ {result.growth_mb:.1f} MB (target < {TARGET_MB:.0f} MB: {verdict})\n"
        f"emitted {result.emitted:,}; dropped at the queue {result.dropped_queue:,}, at the "
        f"sink's backlog {result.dropped_sink:,}; pending {result.pending:,}; delivered "
        f"{result.delivered:,}; every record accounted for: {result.accounted} "
        f"(extra {result.extra})"
    )


if __name__ == "__main__":
    main()
