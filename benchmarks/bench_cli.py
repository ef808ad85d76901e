"""How long ``llmguard stats`` / ``drift`` / ``report`` take over a store of a million calls.

Builds the store once (kept in the given directory, default a temp dir, and reused when
it is already there), then times each command in-process, three runs each::

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

from llmguard._core.records import Record, Usage, iso_time
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


COMMANDS: tuple[tuple[str, ...], ...] = (
    ("stats",),
    ("stats", "--by", "day"),
    ("stats", "--by", "prompt", "--since", "2026-01-10", "--until", "2026-01-20"),
)


def timed(argv: list[str], repeats: int = 3) -> list[float]:
    """Seconds taken by each of ``repeats`` runs of the command, in this process."""
    times = []
    for _ in range(repeats):
        with contextlib.redirect_stdout(io.StringIO()):
            started = time.perf_counter()
            status = main(argv)
            times.append(time.perf_counter() - started)
        if status not in (0, 1):
            raise RuntimeError(f"{argv} exited {status}")
    return times


def store(folder: Path, records: int) -> Path:
    """The SQLite store of ``records`` calls in ``folder``, built on first use."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"calls-{records}.db"
    if not path.exists():
        partial = path.with_suffix(".building")
        partial.unlink(missing_ok=True)
        build(partial, records, jsonl=False)
        partial.rename(path)
    return path


def measure(path: Path, repeats: int = 3) -> dict[str, list[float]]:
    """Seconds per run of every command in `COMMANDS` over the store at ``path``."""
    return {
        "llmguard " + " ".join(command): timed([command[0], str(path), *command[1:]], repeats)
        for command in COMMANDS
    }


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="llmguard-bench-cli-"))
    started = time.perf_counter()
    path = store(folder, args.records)
    print(f"store {path} ready in {time.perf_counter() - started:.1f} s")
    print(f"store: {args.records:,} llm records, {path.stat().st_size / 1e6:.0f} MB")
    for label, times in measure(path).items():
        print(f"{label:<70} {min(times):6.2f} s (best of {len(times)})")


if __name__ == "__main__":
    run()
