"""Timing helpers shared by the benchmark scripts.

Variants of one benchmark are timed *interleaved*: in every round each variant runs one
batch of calls, in turn, so that a change in the machine's speed during the run (other
processes, frequency scaling) reaches them all alike instead of favouring whichever ran
first. Every helper returns raw samples; `Spread` summarises them.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Variant = tuple[str, Callable[[], object]]


@dataclass(frozen=True)
class Spread:
    """The median of some samples, and their lowest and highest value."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Spread:
        if not samples:
            raise ValueError("no samples")
        return cls(statistics.median(samples), min(samples), max(samples))

    def scaled(self, factor: float) -> Spread:
        return Spread(self.median * factor, self.low * factor, self.high * factor)


def settle() -> None:
    """Collect, then move every object alive now out of the collector's sight.

    Else a full collection, whose cost grows with everything the imports and the warm-up
    left behind, lands on whichever variant happens to trip it.
    """
    gc.collect()
    gc.freeze()


def interleaved_ns(
    variants: Sequence[Variant],
    rounds: int,
    batch: int,
    warmup: int = 0,
    between: Callable[[], object] | None = None,
) -> dict[str, list[float]]:
    """Time per call, in ns, of each variant: one sample per round, variants in turn.

    Args:
        variants: ``(name, fn)`` pairs; ``fn`` takes no argument.
        rounds: Samples per variant.
        batch: Calls per sample.
        warmup: Calls of each variant before timing starts.
        between: Called, untimed, before every round -- e.g. a flush, so that background
            delivery of the previous round's records never runs inside a timed batch.
    """
    for _, fn in variants:
        for _ in range(warmup):
            fn()
    settle()
    samples: dict[str, list[float]] = {name: [] for name, _ in variants}
    clock = time.perf_counter_ns
    try:
        for _ in range(rounds):
            if between is not None:
                between()
            for name, fn in variants:
                start = clock()
                for _ in range(batch):
                    fn()
                samples[name].append((clock() - start) / batch)
    finally:
        gc.unfreeze()
    return samples


def amortized_ns(
    variants: Sequence[tuple[str, Callable[[], object], Callable[[], object]]],
    runs: int,
    calls: int,
) -> dict[str, list[float]]:
    """Time per call, in ns, of ``calls`` calls *plus* the flush that delivers them.

    What the whole process pays per call, background work included. ``variants`` are
    ``(name, fn, flush)``; the variants take turns run by run.
    """
    samples: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    clock = time.perf_counter_ns
    for _ in range(runs):
        for name, fn, flush in variants:
            flush()
            start = clock()
            for _ in range(calls):
                fn()
            flush()
            samples[name].append((clock() - start) / calls)
    return samples
