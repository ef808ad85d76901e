"""Pricing a call: ``lg.pricing.cost(usage, model)`` against genai-prices' ``calc_price``.

Run: ``python benchmarks/bench_pricing.py``. What a guarded call pays to be priced is
one `lg.pricing.cost` on its usage: a lookup in llmguard's cache of resolved models,
then a few float operations. It is timed for four names that exercise each path -- a
plain name, a provider prefix, a model with tiers and cache writes, a model whose price
changed over time -- and, for reference, genai-prices' own ``calc_price`` on the same
usage (which matches the model and walks its unit registry on every call). The target is
a median under 5 µs a call. The names take turns batch by batch.

The first priced call of a process also loads the database; that one-time cost is
measured in fresh interpreters (``first_call_ms``), beside ``import llmguard``, which
must not pay it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from dataclasses import dataclass

from _timing import Spread, interleaved_ns

import llmguard as lg

TARGET_US = 5.0

MODELS = (
    "gpt-4o-mini",
    "azure/gpt-4o",
    "claude-sonnet-4-5-20250929",
    "mistral-medium-latest",
)
USAGE = lg.Usage(input=1_840, output=312, cached_input=1_024, reasoning=128, total=2_152)

_FIRST_CALL = """
import time
t0 = time.perf_counter()
import llmguard as lg
t1 = time.perf_counter()
lg.pricing.cost(lg.Usage(input=10, output=10), "gpt-4o-mini")
t2 = time.perf_counter()
print(f"{(t1 - t0) * 1e3:.3f} {(t2 - t1) * 1e3:.3f}")
"""


@dataclass(frozen=True)
class PricingResult:
    """Median ns per priced call, llmguard's and genai-prices', for each model name."""

    ours_ns: dict[str, float]
    database_ns: dict[str, float]


def measure(rounds: int = 200, batch: int = 500) -> PricingResult:
    """Time `lg.pricing.cost` and ``genai_prices.calc_price`` per model name."""
    import genai_prices

    usage = genai_prices.Usage(input_tokens=1_840, output_tokens=312, cache_read_tokens=1_024)
    lg.pricing.load()
    variants = []
    for model in MODELS:
        variants.append((f"ours {model}", lambda m=model: lg.pricing.cost(USAGE, m)))
        variants.append(
            (
                f"database {model}",
                lambda m=model: genai_prices.calc_price(usage, m, provider_id="litellm"),
            )
        )
    samples = interleaved_ns(variants, rounds, batch, warmup=batch)
    return PricingResult(
        {m: statistics.median(samples[f"ours {m}"]) for m in MODELS},
        {m: statistics.median(samples[f"database {m}"]) for m in MODELS},
    )


def first_call_ms(runs: int = 5) -> tuple[list[float], list[float]]:
    """Per fresh interpreter: ms to import llmguard, and ms of the first priced call."""
    imports: list[float] = []
    firsts: list[float] = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _FIRST_CALL], capture_output=True, text=True, check=True
        ).stdout.split()
        imports.append(float(out[0]))
        firsts.append(float(out[1]))
    return imports, firsts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters for the load")
    args = parser.parse_args()
    results = [measure(args.rounds, args.batch) for _ in range(3)]
    print(f"pricing one call, median ns (of {len(results)} runs: median, low-high)")
    for model in MODELS:
        ours = Spread.of([r.ours_ns[model] for r in results])
        theirs = Spread.of([r.database_ns[model] for r in results])
        print(
            f"  {model:32} lg.pricing.cost {ours.median / 1000:6.2f} µs "
            f"({ours.low / 1000:.2f}-{ours.high / 1000:.2f})   genai_prices.calc_price "
            f"{theirs.median / 1000:7.2f} µs ({theirs.low / 1000:.2f}-{theirs.high / 1000:.2f})"
        )
    worst = max(statistics.median(r.ours_ns[m] for r in results) for m in MODELS) / 1000
    verdict = "met" if worst <= TARGET_US else "MISSED"
    print(f"slowest name: {worst:.2f} µs; target {TARGET_US} µs: {verdict}")
    imports, firsts = first_call_ms(args.runs)
    print(
        f"fresh interpreter, {args.runs} runs: import llmguard {Spread.of(imports).median:.0f} ms "
        f"({min(imports):.0f}-{max(imports):.0f}); first priced call (loads the database) "
        f"{Spread.of(firsts).median:.0f} ms ({min(firsts):.0f}-{max(firsts):.0f})"
    )


if __name__ == "__main__":
    main()
