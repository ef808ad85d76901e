"""How long ``llmguard stats`` / ``drift`` / ``report`` take over a realistic store.

The store looks like a production one: each guarded call writes an ``llm`` record
carrying its message list (about 1 KB of content) and one ``attempt`` record per try
(about one in twenty needs a corrective retry, some answers are repaired), some calls
run a tool, a few agents run, users leave feedback, and part of the successful calls
are sampled (weight 4). It is written with `SQLiteSink.emit` in large batches (one
transaction each), not through the tracing pipeline, and kept under ``--dir`` (default
``/tmp/llmguard-bench-cli``) for the next run. Each command then runs in a subprocess
of its own, so its peak memory (``ru_maxrss``) is its own. ``--one-connection`` keeps
the commands off the store's second connection (`Dataset.open`'s
``second_connection=False``), to compare::

    python benchmarks/bench_cli.py [--calls 100000 1000000] [--repeats 3] [--dir DIR]
        [--one-connection] [--report-dir DIR]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from llmguard._core.records import Record, Usage, iso_time
from llmguard.sinks import JSONLSink, SQLiteSink

_FUNCTIONS = (
    # name, model, prompt, latency ms, input tokens, output tokens
    ("triage", "gpt-4o-mini", ("triage", "v3"), 420.0, 650, 40),
    ("summarize", "gpt-4o-mini", ("summarize", "v1"), 900.0, 1800, 220),
    ("extract", "gpt-4o", ("extract", "v2"), 2100.0, 3200, 380),
    ("classify", "gpt-4o-mini", ("classify", "v1"), 300.0, 500, 20),
    ("answer", "claude-sonnet-4", ("answer", "v5"), 1500.0, 2400, 300),
)
_PRICES = {"gpt-4o-mini": (0.15, 0.60), "gpt-4o": (2.50, 10.00), "claude-sonnet-4": (3.0, 15.0)}
_DAYS = 30
_T0_NS = 1_767_225_600 * 1_000_000_000  # 2026-01-01T00:00:00Z
_BATCH = 20_000
_WORDS = [
    "the",
    "invoice",
    "for",
    "order",
    "number",
    "was",
    "sent",
    "twice",
    "and",
    "the",
    "customer",
    "asks",
    "for",
    "a",
    "refund",
    "of",
    "the",
    "second",
    "charge",
    "please",
    "check",
    "the",
    "account",
    "history",
    "before",
    "answering",
    "politely",
]
_SCHEMA_VIOLATION = "llmguard.exceptions.SchemaViolation"


def _text(rng: random.Random, size: int) -> str:
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


def calls(count: int, seed: int = 7, *, repairs: bool = True) -> Iterator[Record]:
    """The records of ``count`` guarded calls spread over 30 days, deterministic per seed.

    Args:
        count: Guarded calls (``llm`` records); tools, agents, attempts and feedback come
            on top.
        seed: The random seed.
        repairs: Whether some attempts were repaired by ``json_repair``.
    """
    rng = random.Random(seed)
    step_ns = _DAYS * 86_400 * 1_000_000_000 // max(count, 1)
    prompt_change = count // 2
    for index in range(count):
        name, model, prompt, latency, tokens_in, tokens_out = _FUNCTIONS[index % len(_FUNCTIONS)]
        start = _T0_NS + index * step_ns + rng.randrange(step_ns or 1)
        trace = f"{rng.getrandbits(128):032x}"
        span = f"{rng.getrandbits(64):016x}"
        worse = name == "summarize" and index >= prompt_change
        if worse:
            prompt = ("summarize", "v2")
        attempts = 1
        while attempts < 3 and rng.random() < (0.15 if worse else 0.05):
            attempts += 1
        failed = attempts == 3 and rng.random() < 0.5
        errored = not failed and rng.random() < 0.01
        limited = not failed and not errored and rng.random() < 0.002
        status: Literal["ok", "error", "limit"] = (
            "error" if failed or errored else "limit" if limited else "ok"
        )
        weight = 4.0 if status == "ok" and rng.random() < 0.2 else 1.0
        at = start
        for number in range(1, attempts + 1):
            took = rng.lognormvariate(math.log(latency * (1.5 if worse else 1.0)), 0.4)
            took_ns = int(took * 1e6)
            ok = number == attempts and not failed
            summary: dict[str, object] = {
                "number": number,
                "outcome": "ok" if ok else "invalid",
                "function": name,
            }
            roll = rng.random()
            if ok and repairs and roll < 0.03:
                summary["repair"] = summary["stage"] = "json_repair"
            elif ok and roll < 0.08:
                summary["repair"] = summary["stage"] = "fence"
            yield Record(
                trace_id=trace,
                span_id=f"{rng.getrandbits(64):016x}",
                parent_id=span,
                name=f"attempt {number}",
                kind="attempt",
                start=iso_time(at),
                end=iso_time(at + took_ns),
                duration_ms=took,
                status="ok" if ok else "error",
                model=model,
                provider="openai",
                prompt_name=prompt[0],
                prompt_version=prompt[1],
                usage=Usage(input=tokens_in, output=tokens_out),
                attempt=summary,
                output=_text(rng, 120),
                sample_weight=weight,
            )
            at += took_ns
        # Token counts drawn from a normal curve, cut at zero: a call never uses fewer.
        used_in = max(0, int(rng.gauss(tokens_in, tokens_in * 0.2))) * attempts
        used_out = max(0, int(rng.gauss(tokens_out * (1.4 if worse else 1.0), tokens_out * 0.25)))
        price_in, price_out = _PRICES[model]
        duration_ns = at - start
        yield Record(
            trace_id=trace,
            span_id=span,
            name=name,
            kind="llm",
            start=iso_time(start),
            end=iso_time(at),
            duration_ms=duration_ns / 1e6,
            status=status,
            error_type=_SCHEMA_VIOLATION if failed else "TimeoutError" if errored else None,
            error_message="never matched the schema" if failed else None,
            model=model,
            provider="openai",
            prompt_name=prompt[0],
            prompt_version=prompt[1],
            usage=Usage(input=used_in, output=used_out, total=used_in + used_out),
            cost_usd=(used_in * price_in + used_out * price_out) / 1e6,
            attempt={"count": attempts, "outcome": "ok" if status == "ok" else "invalid"},
            input=[
                {"role": "system", "content": _text(rng, 300)},
                {"role": "user", "content": _text(rng, 700)},
            ],
            output={"answer": _text(rng, 80)},
            sample_weight=weight,
        )
        if index % 10 == 3:
            took = rng.lognormvariate(math.log(140), 0.5)
            yield Record(
                trace_id=trace,
                span_id=f"{rng.getrandbits(64):016x}",
                parent_id=span,
                name="search_docs",
                kind="tool",
                start=iso_time(at),
                end=iso_time(at + int(took * 1e6)),
                duration_ms=took,
                status="error" if rng.random() < 0.01 else "ok",
                input={"query": _text(rng, 60)},
                output=_text(rng, 200),
            )
        if index % 100 == 7:
            yield Record(
                trace_id=trace,
                span_id=f"{rng.getrandbits(64):016x}",
                name="support_agent",
                kind="agent",
                start=iso_time(start),
                end=iso_time(at + 1_000_000),
                duration_ms=duration_ns / 1e6 + 1.0,
                status=status,
                metadata={"steps": attempts + 1},
            )
        if status == "ok" and index % 25 == 11:
            yield Record(
                trace_id=trace,
                span_id=f"{rng.getrandbits(64):016x}",
                name="feedback",
                kind="feedback",
                start=iso_time(at + 60_000_000_000),
                end=iso_time(at + 60_000_000_000),
                duration_ms=0.0,
                metadata={"score": rng.choice((0.0, 0.5, 1.0, 1.0, 1.0) if worse else (1.0,))},
            )


def build(path: Path, count: int, *, seed: int = 7, repairs: bool = True) -> int:
    """Write the records of ``count`` calls to ``path`` (JSON Lines when it ends in .jsonl).

    Returns:
        How many records were written.
    """
    sink = JSONLSink(path) if path.suffix == ".jsonl" else SQLiteSink(path)
    written = 0
    batch: list[Record] = []
    for record in calls(count, seed, repairs=repairs):
        batch.append(record)
        if len(batch) == _BATCH:
            sink.emit(batch)
            written += len(batch)
            batch.clear()
    sink.emit(batch)
    written += len(batch)
    sink.close()
    return written


def store(folder: Path, count: int) -> Path:
    """The SQLite store of ``count`` calls in ``folder``, built on first use."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"calls-{count}.db"
    if not path.exists():
        partial = folder / f"calls-{count}.building.db"
        for stale in folder.glob(f"{partial.name}*"):
            stale.unlink()
        started = time.perf_counter()
        written = build(partial, count)
        print(
            f"built {count:,} calls ({written:,} records) in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
        partial.rename(path)
    return path


def commands(path: Path, report_dir: Path | None = None) -> dict[str, list[str]]:
    """The commands timed, by label: stats, drift of the last day against the week before,
    and the report (written into ``report_dir``, by default beside the store)."""
    folder = path.parent if report_dir is None else report_dir
    return {
        "stats": ["stats", str(path)],
        "stats --by day": ["stats", str(path), "--by", "day"],
        "drift": [
            "drift",
            str(path),
            "--baseline",
            "2026-01-23..2026-01-30",
            "--current",
            "2026-01-30..2026-01-31",
        ],
        "report": ["report", str(path), "-o", str(folder / "report.html")],
    }


# The peak is VmHWM, the high-water mark of this process's own memory: ru_maxrss would
# carry the parent's peak over exec.
_CHILD = """
import sys, time
from llmguard.cli import main
from llmguard.cli._dataset import Dataset
if sys.argv[1] == "--one-connection":
    del sys.argv[1]
    _open = Dataset.open
    Dataset.open = lambda path, progress=None: _open(path, progress, second_connection=False)
started, cpu = time.perf_counter(), time.process_time()
status = main(sys.argv[1:])
took, cpu = time.perf_counter() - started, time.process_time() - cpu
with open("/proc/self/status") as status_file:
    peak = next(int(line.split()[1]) for line in status_file if line.startswith("VmHWM:"))
print(f"{took} {cpu} {peak} {status}", file=sys.stderr)
"""


def timed(argv: list[str], *, one_connection: bool = False) -> tuple[float, float, float]:
    """Seconds, CPU seconds and peak resident MiB of one run of the command, in a fresh
    process (on one connection to the store if asked)."""
    flag = ["--one-connection"] if one_connection else []
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *flag, *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    last = done.stderr.strip().splitlines()[-1]
    took, cpu, peak, status = last.split()
    if status not in ("0", "1"):
        raise RuntimeError(f"{argv} exited {status}: {done.stderr}")
    return float(took), float(cpu), int(peak) / 1024


def measure(path: Path, repeats: int = 3) -> dict[str, list[float]]:
    """Seconds per run of every command in `commands` over the store at ``path``."""
    return {label: [run[0] for run in runs] for label, runs in _runs(path, repeats).items()}


def _runs(
    path: Path, repeats: int, *, one_connection: bool = False, report_dir: Path | None = None
) -> dict[str, list[tuple[float, float, float]]]:
    """(seconds, CPU seconds, peak MiB) of each run of each command, taking turns."""
    labelled = commands(path, report_dir)
    runs: dict[str, list[tuple[float, float, float]]] = {label: [] for label in labelled}
    for _ in range(repeats):
        for label, argv in labelled.items():
            runs[label].append(timed(argv, one_connection=one_connection))
    return runs


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/llmguard-bench-cli"))
    parser.add_argument(
        "--one-connection", action="store_true", help="keep off the second connection"
    )
    parser.add_argument(
        "--report-dir",
        type=Path,
        help="where the report is written (default: beside the store, which may be shared)",
    )
    args = parser.parse_args()
    for count in args.calls:
        path = store(args.dir, count)
        with SQLiteStoreSize(path) as size:
            print(
                f"store of {count:,} calls: {size.records:,} records, "
                f"{size.bytes / 1e6:,.0f} MB, {size.bytes / count:,.0f} bytes per call"
            )
        timed_runs = _runs(
            path, args.repeats, one_connection=args.one_connection, report_dir=args.report_dir
        )
        for label, runs in timed_runs.items():
            seconds = [run[0] for run in runs]
            cpu = [run[1] for run in runs]
            print(
                f"  {label:<16} median {statistics.median(seconds):6.2f} s "
                f"({min(seconds):.2f}-{max(seconds):.2f}, {len(seconds)} runs), "
                f"CPU {statistics.median(cpu):6.2f} s ({min(cpu):.2f}-{max(cpu):.2f}), "
                f"peak {max(run[2] for run in runs):.0f} MiB"
            )


class SQLiteStoreSize:
    """The records and bytes (database file plus write-ahead log) of a store."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records = 0
        self.bytes = 0

    def __enter__(self) -> SQLiteStoreSize:
        from llmguard.sinks import SQLiteStore

        with SQLiteStore(self.path) as opened:
            self.records = opened.count()
        wal = self.path.with_name(self.path.name + "-wal")
        self.bytes = self.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
        return self

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    run()
