"""How long ``llmguard stats`` / ``drift`` / ``report`` take over a store of a million calls.

Builds the store once (kept in the given directory, default a temp dir), then times each
command in-process, best of three::

    python benchmarks/bench_cli.py [--records 1000000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import tempfile
import time
from pathlib import Path

from llmguard._records import Record, Usage, iso_time
from llmguard.cli import main
from llmguard.sinks import JSONLSink, SQLiteSink

_NAMES = ("triage", "summarize", "extract", "classify", "answer")
_BATCH = 10_000
_T0_NS = 1_767_225_600 * 1_000_000_000  # 2026-01-01T00:00:00Z


def build(path: Path, count: int, jsonl: bool) -> None:
    """Write ``count`` llm records spread over 30 days."""
    sink = JSONLSink(path) if jsonl else SQLiteSink(path)
    rng = random.Random(7)
    step_ns = 30 * 86_400 * 1_000_000_000 // count
    batch = []
    for index in range(count):
        start = _T0_NS + index * step_ns
        duration = rng.lognormvariate(6, 0.5)
        failed = rng.random() < 0.03
        batch.append(
            Record(
                trace_id=f"{rng.getrandbits(128):032x}",
                span_id=f"{rng.getrandbits(64):016x}",
                name=_NAMES[index % len(_NAMES)],
                kind="llm",
                start=iso_time(start),
                end=iso_time(start + int(duration * 1e6)),
                duration_ms=duration,
                status="error" if failed else "ok",
                error_type="SchemaViolation" if failed else None,
                model="gpt-4o-mini",
                prompt_name="p",
                prompt_version=f"v{index * 3 // count}",
                usage=Usage(input=400 + index % 50, output=30 + index % 20),
                cost_usd=0.0001,
                attempt={"count": 2 if failed else 1, "outcome": "ok"},
            )
        )
        if len(batch) == _BATCH:
            sink.emit(batch)
            batch.clear()
    sink.emit(batch)
    sink.close()


def timed(argv: list[str]) -> float:
    """Best of three runs of the command, in seconds."""
    best = float("inf")
    for _ in range(3):
        with contextlib.redirect_stdout(io.StringIO()):
            started = time.perf_counter()
            status = main(argv)
            best = min(best, time.perf_counter() - started)
        if status not in (0, 1):
            raise SystemExit(f"{argv} exited {status}")
    return best


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="llmguard-bench-cli-"))
    folder.mkdir(parents=True, exist_ok=True)
    store = folder / f"calls-{args.records}.db"
    if not store.exists():
        started = time.perf_counter()
        build(store, args.records, jsonl=False)
        print(f"built {store} in {time.perf_counter() - started:.1f} s")
    size_mb = store.stat().st_size / 1e6
    print(f"store: {args.records:,} llm records, {size_mb:.0f} MB")
    for argv in (
        ["stats", str(store)],
        ["stats", str(store), "--by", "day"],
        ["stats", str(store), "--by", "prompt", "--since", "2026-01-10", "--until", "2026-01-20"],
    ):
        print(f"llmguard {' '.join(argv[:1] + argv[2:]):<60} {timed(argv):6.2f} s")


if __name__ == "__main__":
    run()
