"""Every performance target of DESIGN.md, measured side by side, in one command.

    python benchmarks/run.py [--quick] [--write] [--cli-dir DIR]

Runs the benchmark scripts of this folder through their ``measure`` functions and
prints one table: each target, what was measured (the median and, in brackets, the
lowest and highest of the repeats), the measured value divided by the target's limit,
and whether the target is met. ``--quick`` shrinks every size so that the whole run
takes well under a minute (a smoke run; its figures are noisy). ``--write`` replaces the
generated part of ``benchmarks/RESULTS.md`` -- everything above its marker line --
with the table, the machine and the versions; the hand-written analysis below the
marker is kept as it is.

Comparisons with peers (OpenTelemetry SDK, Instructor on the OpenAI SDK) run in this
process, the variants taking turns batch by batch. ``import llmguard`` and the stalled
sink run in fresh interpreters, so that nothing this process did moves their figures.
Peers come with the ``bench`` extra: ``pip install -e ".[bench]"``; a missing peer
leaves its rows unmeasured, with a note.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import bench_cli
import bench_import
import bench_memory
import bench_pricing
import bench_redact
import bench_sinks
import bench_tokens
import bench_trace
import bench_workload
from _timing import Spread

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
MARKER = "<!-- end of the generated part: `run.py --write` keeps everything below this line -->"
PACKAGES = (
    "llmguard",
    "pydantic",
    "pydantic-core",
    "wrapt",
    "tiktoken",
    "opentelemetry-sdk",
    "instructor",
    "openai",
    "httpx2",
    "httpx",
)


@dataclass(frozen=True)
class Sizes:
    """How much each benchmark does; `FULL` for the record, `QUICK` for a smoke run."""

    name: str
    repeats: int  # of the in-process timing benchmarks, taking turns
    trace_rounds: int
    trace_batch: int
    trace_long_calls: int
    trace_long_runs: int
    guard_rounds: int
    guard_batch: int
    guard_warmup: int
    guard_long_calls: int
    guard_long_runs: int
    sink_records: int
    sink_rounds: int
    token_runs: int
    token_repeat: int
    import_runs: int
    memory_records: int
    cli_records: int
    cli_repeats: int
    workload_rounds: int = 9
    workload_batch: int = 500
    workload_warmup: int = 200
    workload_sustained: int = 50_000
    workload_burst: int = 100_000
    partial_rounds: int = 30
    partial_batch: int = 5
    pricing_rounds: int = 200
    pricing_batch: int = 500
    redact_records: int = 400
    redact_runs: int = 5
    redact_bytes: int = 1 << 20


FULL = Sizes(
    name="full",
    repeats=3,
    trace_rounds=1_000,
    trace_batch=100,
    trace_long_calls=20_000,
    trace_long_runs=3,
    guard_rounds=300,
    guard_batch=10,
    guard_warmup=200,
    guard_long_calls=2_000,
    guard_long_runs=3,
    sink_records=100_000,
    sink_rounds=5,
    token_runs=1_000,
    token_repeat=10,
    import_runs=9,
    memory_records=1_000_000,
    cli_records=1_000_000,
    cli_repeats=3,
)
QUICK = Sizes(
    name="quick",
    repeats=1,
    trace_rounds=200,
    trace_batch=50,
    trace_long_calls=2_000,
    trace_long_runs=1,
    guard_rounds=40,
    guard_batch=5,
    guard_warmup=20,
    guard_long_calls=200,
    guard_long_runs=1,
    sink_records=20_000,
    sink_rounds=1,
    token_runs=200,
    token_repeat=5,
    import_runs=3,
    memory_records=100_000,
    cli_records=50_000,
    cli_repeats=1,
    workload_rounds=3,
    workload_batch=200,
    workload_warmup=50,
    workload_sustained=5_000,
    workload_burst=20_000,
    partial_rounds=5,
    partial_batch=2,
    pricing_rounds=30,
    pricing_batch=100,
    redact_records=100,
    redact_runs=1,
    redact_bytes=256 << 10,
)


@dataclass(frozen=True)
class Row:
    """One target: its limit, and what was measured (``None`` when it could not be)."""

    target: str
    limit: float | None  # None: measured for the record, no target
    at_most: bool  # the limit is an upper bound (else a lower bound)
    unit: str
    spread: Spread | None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """Measured median over the limit."""
        if self.spread is None or self.limit is None:
            return None
        return self.spread.median / self.limit

    @property
    def met(self) -> bool | None:
        ratio = self.ratio
        if ratio is None:
            return None
        return ratio <= 1 if self.at_most else ratio >= 1

    def limit_text(self) -> str:
        if self.limit is None:
            return "—"
        return f"{'≤' if self.at_most else '≥'} {self.limit:,g} {self.unit}".rstrip()

    def measured_text(self) -> str:
        if self.spread is None:
            return f"not measured ({self.note})" if self.note else "not measured"
        s = self.spread
        text = f"{_number(s.median)} {self.unit}".rstrip()
        if s.low != s.high:
            text += f" ({_number(s.low)}-{_number(s.high)})"
        return text

    def ratio_text(self) -> str:
        return "—" if self.ratio is None else f"{self.ratio:.2f}"

    def met_text(self) -> str:
        return {True: "yes", False: "**no**", None: "—"}[self.met]


@dataclass
class Report:
    """Target rows, and every measurement behind them (benchmark, what, value)."""

    rows: list[Row] = field(default_factory=list)
    details: list[tuple[str, str, str]] = field(default_factory=list)

    def detail(self, bench: str, what: str, values: Sequence[float], unit: str) -> None:
        spread = Spread.of(values)
        text = f"{_number(spread.median)} {unit}".rstrip()
        if spread.low != spread.high:
            text += f" ({_number(spread.low)}-{_number(spread.high)})"
        self.details.append((bench, what, text))


def _number(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 10_000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _optional(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


# -- the benchmarks -----------------------------------------------------------------------


def workload_rows(report: Report, sizes: Sizes) -> None:
    """The headline: what a realistic call costs in all, delivery included (issue 17)."""
    W = bench_workload
    result = W.measure(
        sizes.workload_rounds,
        sizes.workload_batch,
        sizes.workload_warmup,
        sizes.workload_sustained,
        sizes.workload_burst,
    )
    costs = result.costs
    trace = costs["@lg.trace"]
    report.rows.append(
        Row(
            "`@lg.trace`, realistic call, JSONL sink: total CPU per call (caller + delivery)",
            25.0,
            True,
            "µs",
            Spread.of(trace.total),
        )
    )
    target = "OpenTelemetry SDK span total / `@lg.trace` total, same content, CPU per call"
    otel = costs.get("OTel SDK span")
    if otel is None:
        note = "opentelemetry-sdk or its OTLP encoder missing"
        report.rows.append(Row(target, 1.0, False, "x", None, note))
    else:
        ratios = [o / t for o, t in zip(otel.total, trace.total, strict=True)]
        report.rows.append(Row(target, 1.0, False, "x", Spread.of(ratios)))
    target = (
        "Instructor `response_model` + tracing added / `@lg.guard(schema)` added, "
        "total CPU per call, OpenAI SDK on a mock transport"
    )
    guard, bare = costs.get("@lg.guard(schema)"), costs.get("bare SDK + validate")
    peer = costs.get("Instructor + @lg.trace")
    if guard is None or bare is None:
        report.rows.append(Row(target, 10.0, False, "x", None, "openai missing"))
    elif peer is None:
        report.rows.append(Row(target, 10.0, False, "x", None, "instructor missing"))
    else:
        ratios = [
            (p - b) / max(g - b, 1e-3)
            for p, g, b in zip(peer.total, guard.total, bare.total, strict=True)
        ]
        report.rows.append(Row(target, 10.0, False, "x", Spread.of(ratios)))
    run = result.sustained["@lg.trace"]
    report.rows.append(
        Row(
            "`@lg.trace` under sustained load: caller's thread CPU per call",
            8.0,
            True,
            "µs",
            Spread.of([run.caller_us]),
        )
    )
    for burst in result.bursts:
        limit = W.THROUGHPUT_TARGETS.get(burst.sink)
        report.rows.append(
            Row(
                f"realistic records delivered end to end to `{burst.sink}`, per second of "
                "delivery CPU",
                None if limit is None else float(limit),
                False,
                "rec/s",
                Spread.of([burst.delivery_cpu_per_s]),
            )
        )
        report.detail("workload", f"burst to {burst.sink}: records/s wall", [burst.wall_per_s], "")
        report.detail(
            "workload", f"burst to {burst.sink}: records dropped", [float(burst.dropped)], ""
        )
    first = result.bursts[0]
    report.rows.append(
        Row(
            f"burst of {first.records:,} realistic calls, default queue, `{first.sink}`: "
            "share delivered",
            100.0,
            False,
            "%",
            Spread.of([100.0 * (first.records - first.dropped) / first.records]),
        )
    )
    for name, cost in costs.items():
        report.detail("workload", f"{name}: total CPU per call", cost.total, "µs")
        report.detail("workload", f"{name}: caller's CPU per call", cost.caller, "µs")
    for name, run in result.sustained.items():
        report.detail("workload", f"sustained {name}: caller's wall per call", [run.wall_us], "µs")
        report.detail("workload", f"sustained {name}: total CPU per call", [run.total_us], "µs")
        # Delivery is slower than a caller running back to back: the default queue drops
        # the excess, which the total above then leaves out.
        report.detail("workload", f"sustained {name}: records dropped", [float(run.dropped)], "")


def trace_rows(report: Report, results: Sequence[bench_trace.TraceResult]) -> None:
    T = bench_trace
    for name, label in ((T.TRACE, "`@lg.trace`"), (T.GUARD, "`@lg.guard` without a schema")):
        added = [r.added_us(name) for r in results]
        report.rows.append(
            Row(
                f"{label}, JSONL sink: added to a bare call, caller's thread",
                5.0,
                True,
                "µs",
                Spread.of(added),
            )
        )
    has_otel = all(T.OTEL in r.caller_ns for r in results)
    for name, label in ((T.TRACE, "`@lg.trace`"), (T.GUARD, "`@lg.guard` without a schema")):
        target = f"OpenTelemetry SDK span added / {label} added, caller's thread"
        if has_otel:
            ratios = [r.added_us(T.OTEL) / r.added_us(name) for r in results]
            report.rows.append(Row(target, 4.0, False, "x", Spread.of(ratios)))
        else:
            report.rows.append(Row(target, 4.0, False, "x", None, "opentelemetry-sdk missing"))
    for name in results[0].caller_ns:
        if name == T.BARE:
            continue
        report.detail("trace", f"{name}: added, caller", [r.added_us(name) for r in results], "µs")
        report.detail(
            "trace",
            f"{name}: added, amortized (delivery included)",
            [r.added_us(name, amortized=True) for r in results],
            "µs",
        )
    report.detail("trace", "bare call", [r.caller_ns[T.BARE] / 1000 for r in results], "µs")
    report.detail("trace", "records dropped", [float(r.dropped) for r in results], "")


def guard_rows(report: Report, results: Sequence[object]) -> None:
    import bench_guard as G

    typed: list[G.GuardResult] = [r for r in results if isinstance(r, G.GuardResult)]
    for mode in ("JSON", "TOOLS"):
        target = (
            f"Instructor `response_model` ({mode} mode) added / `@lg.guard(schema=...)` "
            "added, OpenAI SDK on a mock transport, no sink"
        )
        ratios = [r.instructor_ratio(mode) for r in typed]
        if typed and all(ratio is not None for ratio in ratios):
            values = [ratio for ratio in ratios if ratio is not None]
            report.rows.append(Row(target, 20.0, False, "x", Spread.of(values)))
        else:
            note = "instructor missing" if typed else "openai missing"
            report.rows.append(Row(target, 20.0, False, "x", None, note))
    # send_schema=True (issue 16): against the bare call with no schema, the SDK's own
    # cost of carrying response_format counts against the guard; "own" measures each
    # side against the bare call carrying its schema (the guard's response_format,
    # Instructor's tool), so that neither pays for the SDK.
    target = (
        "Instructor `response_model` (TOOLS mode) added / `@lg.guard(schema=..., "
        "send_schema=True)` added, OpenAI SDK on a mock transport, no sink"
    )
    sends = [r.instructor_ratio("TOOLS", G.GUARD_SEND) for r in typed]
    own_target = (
        "Instructor TOOLS mode / `send_schema=True`, each over the bare call carrying "
        "its own schema, no sink"
    )
    if typed and all(ratio is not None for ratio in sends):
        values = [ratio for ratio in sends if ratio is not None]
        report.rows.append(Row(target, 20.0, False, "x", Spread.of(values)))
        own = [r.own_ratio() for r in typed]
        report.rows.append(Row(own_target, 20.0, False, "x", Spread.of(own)))
    else:
        note = "instructor missing" if typed else "openai missing"
        report.rows.append(Row(target, 20.0, False, "x", None, note))
        report.rows.append(Row(own_target, 20.0, False, "x", None, note))
    if not typed:
        return
    report.detail("guard", "bare create + validate", [r.no_sink_us[G.BARE] for r in typed], "µs")
    for name in [*typed[0].no_sink_us, *typed[0].jsonl_us]:
        if name != G.BARE:
            report.detail("guard", f"{name}: added", [r.added_us(name) for r in typed], "µs")
    report.detail(
        "guard",
        f"{G.GUARD_SINK}: added, amortized (delivery included)",
        [r.guard_amortized_us - r.bare_amortized_us for r in typed],
        "µs",
    )
    if all(r.instructor_ratio("JSON") is not None for r in typed):
        for mode in ("JSON", "TOOLS"):
            report.detail(
                "guard",
                f"Instructor {mode} added / {G.GUARD_SINK} added",
                [r.instructor_ratio(mode, G.GUARD_SINK) or 0.0 for r in typed],
                "x",
            )


def partial_rows(report: Report, sizes: Sizes) -> None:
    """Partial streaming of a 2 KB answer in 200 chunks, against Instructor (issue 16)."""
    import bench_partial as B

    result = B.measure(sizes.partial_rounds, sizes.partial_batch, warmup=1)
    target = (
        "Instructor `create_partial` CPU / `guard.stream` CPU, 2 KB answer in 200 chunks, "
        "OpenAI SDK on a mock transport"
    )
    if result.ratio() is None:
        report.rows.append(Row(target, 1.0, False, "x", None, "instructor missing"))
    else:
        ratios = [
            theirs / ours
            for theirs, ours in zip(
                result.samples[B.INSTRUCTOR], result.samples[B.GUARD], strict=True
            )
        ]
        report.rows.append(Row(target, 1.0, False, "x", Spread.of(ratios)))
    for name, samples in result.samples.items():
        report.detail("partial", f"{name}: CPU per answer", samples, "µs")
        report.detail("partial", f"{name}: partials yielded", [result.partials[name]], "")


def sink_rows(report: Report, sizes: Sizes) -> None:
    serialize, results = bench_sinks.measure_all(sizes.sink_records, sizes.sink_rounds)
    for label, result in results.items():
        report.rows.append(
            Row(
                f"`{label}` throughput, cold records (serialized in the run)",
                float(bench_sinks.TARGETS[label]),
                False,
                "rec/s",
                Spread.of(result.cold),
            )
        )
        report.detail("sinks", f"{label}, JSON built beforehand (warm)", result.warm, "rec/s")
    report.detail("sinks", "`Record.to_json` alone", serialize, "rec/s")


def token_rows(report: Report, results: Sequence[dict[str, bench_tokens.TokenResult]]) -> None:
    for model, first in results[0].items():
        per_model = [r[model] for r in results]
        report.rows.append(
            Row(
                f"`count_tokens(messages)` / raw tiktoken `encode`, {model} ({first.encoding})",
                1.2,
                True,
                "x",
                Spread.of([r.ratio for r in per_model]),
            )
        )
        for what, attribute in (
            ("raw `encode`", "raw_ns"),
            ("raw `encode_ordinary`", "ordinary_ns"),
            ("`count_tokens`", "ours_ns"),
        ):
            values = [getattr(r, attribute) / 1000 for r in per_model]
            report.detail("tokens", f"{model}: {what} per 10-message chat", values, "µs")


def redact_rows(report: Report, sizes: Sizes) -> None:
    result = bench_redact.measure(sizes.redact_records, sizes.redact_runs, sizes.redact_bytes)
    report.rows.append(
        Row(
            "redaction of realistic message text, `DEFAULT.redact_records` on a batch",
            bench_redact.TARGET_US_PER_KB,
            True,
            "µs/KB",
            Spread.of(result.batch_us_kb),
        )
    )
    slowest = max(
        result.adversarial_ms, key=lambda name: statistics.median(result.adversarial_ms[name])
    )
    report.rows.append(
        Row(
            f"redaction of 1 MB of adversarial text, slowest of {len(result.adversarial_ms)} "
            f"kinds ({slowest})",
            bench_redact.TARGET_MS_PER_MB,
            True,
            "ms",
            Spread.of(result.adversarial_ms[slowest]),
        )
    )
    report.detail("redact", "realistic text, each string alone", result.per_string_us_kb, "µs/KB")
    report.detail("redact", "realistic text, record by record", result.per_record_us_kb, "µs/KB")
    report.detail("redact", "realistic text, `redact_many`", result.many_us_kb, "µs/KB")
    for name, values in result.adversarial_ms.items():
        report.detail("redact", f"1 MB adversarial: {name}", values, "ms")


def pricing_rows(report: Report, sizes: Sizes) -> None:
    result = bench_pricing.measure(sizes.pricing_rounds, sizes.pricing_batch)
    ours = [ns / 1000 for ns in result.ours_ns.values()]
    report.rows.append(
        Row(
            f"pricing a call, `lg.pricing.cost` ({len(ours)} names: median, fastest-slowest)",
            bench_pricing.TARGET_US,
            True,
            "µs",
            Spread.of(ours),
        )
    )
    for model in bench_pricing.MODELS:
        report.detail(
            "pricing", f"{model}: `lg.pricing.cost`", [result.ours_ns[model] / 1000], "µs"
        )
        report.detail(
            "pricing",
            f"{model}: genai-prices `calc_price` (no cache in front)",
            [result.database_ns[model] / 1000],
            "µs",
        )


def import_row(report: Report, sizes: Sizes) -> None:
    times = bench_import.import_ms(sizes.import_runs)
    report.rows.append(
        Row(
            "`import llmguard`, `-X importtime` cumulative, fresh interpreter",
            bench_import.TARGET_MS,
            True,
            "ms",
            Spread.of(times),
        )
    )


def memory_row(report: Report, sizes: Sizes) -> None:
    result = bench_memory.in_fresh_process(sizes.memory_records)
    note = "" if result.accounted else "records unaccounted for"
    report.rows.append(
        Row(
            f"RSS growth over {result.records:,} traced calls, the only sink stalled",
            bench_memory.TARGET_MB,
            True,
            "MB",
            Spread.of([result.growth_mb]),
            note,
        )
    )
    counts = (
        ("emitted", result.emitted),
        ("dropped at the queue", result.dropped_queue),
        ("dropped at the sink's backlog", result.dropped_sink),
        ("pending for the sink", result.pending),
        ("delivered", result.delivered),
        ("dropped + pending + delivered - emitted", result.extra),
    )
    for what, count in counts:
        report.detail("stalled sink", f"records {what}", [float(count)], "")
    report.detail("stalled sink", "RSS before the calls", [result.baseline_mb], "MB")


def cli_rows(report: Report, sizes: Sizes, folder: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="llmguard-bench-cli-") as scratch:
        started = time.perf_counter()
        store = bench_cli.store(folder or Path(scratch), sizes.cli_records)
        report.detail(
            "cli", "store ready (built unless reused)", [time.perf_counter() - started], "s"
        )
        times = bench_cli.measure(store, sizes.cli_repeats)
    for index, (label, seconds) in enumerate(times.items()):
        if index == 0:
            target = f"`{label}` over a store of {sizes.cli_records:,} calls"
            report.rows.append(Row(target, None, True, "s", Spread.of(seconds)))
        else:
            report.detail("cli", f"`{label}`", seconds, "s")


def run_all(sizes: Sizes, cli_dir: Path | None = None) -> Report:
    """Run every benchmark at ``sizes``; the rows in the order of DESIGN.md's targets."""
    report = Report()
    trace: list[bench_trace.TraceResult] = []
    guard: list[object] = []
    tokens: list[dict[str, bench_tokens.TokenResult]] = []
    has_openai = _optional("openai")
    _progress("realistic workload")
    workload_rows(report, sizes)
    for repeat in range(sizes.repeats):
        # The in-process timings take turns, so a slow spell reaches each of them.
        _progress(f"tracing overhead ({repeat + 1}/{sizes.repeats})")
        trace.append(
            bench_trace.measure(
                sizes.trace_rounds, sizes.trace_batch, sizes.trace_long_calls, sizes.trace_long_runs
            )
        )
        if has_openai:
            import bench_guard

            _progress(f"guard against Instructor ({repeat + 1}/{sizes.repeats})")
            guard.append(
                bench_guard.measure(
                    sizes.guard_rounds,
                    sizes.guard_batch,
                    sizes.guard_warmup,
                    sizes.guard_long_calls,
                    sizes.guard_long_runs,
                )
            )
        _progress(f"token counting ({repeat + 1}/{sizes.repeats})")
        tokens.append(bench_tokens.measure(sizes.token_runs, sizes.token_repeat))
    trace_rows(report, trace)
    guard_rows(report, guard)
    if has_openai:
        _progress("partial streaming against Instructor")
        partial_rows(report, sizes)
    _progress("sink throughput")
    sink_rows(report, sizes)
    token_rows(report, tokens)
    _progress("redaction")
    redact_rows(report, sizes)
    _progress("pricing a call")
    pricing_rows(report, sizes)
    _progress("import time")
    import_row(report, sizes)
    _progress("stalled sink")
    memory_row(report, sizes)
    _progress("llmguard stats")
    cli_rows(report, sizes, cli_dir)
    return report


# -- output ---------------------------------------------------------------------------------


def table(rows: Sequence[Row]) -> str:
    """The targets as a plain-text table."""
    head = ("target", "limit", "measured: median (low-high)", "ratio", "met")
    cells = [
        (r.target, r.limit_text(), r.measured_text(), r.ratio_text(), r.met_text().strip("*"))
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [head, *cells]) for i in range(len(head))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in [head, *cells]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def markdown(head: Sequence[str], cells: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in cells]
    return "\n".join(lines)


def machine() -> dict[str, str]:
    """The CPU, memory and system this process runs on, read from /proc where it can."""
    found = {
        "cores": str(os.cpu_count()),
        "cpu": platform.processor() or platform.machine(),
        "ram": "?",
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }
    cpuinfo, meminfo = Path("/proc/cpuinfo"), Path("/proc/meminfo")
    if cpuinfo.exists():
        text = cpuinfo.read_text()
        names = [
            line.split(":", 1)[1].strip()
            for line in text.splitlines()
            if line.startswith("model name")
        ]
        if names:
            found["cpu"] = names[0]
            found["cores"] = str(len(names))
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                found["ram"] = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    release = Path("/etc/os-release")
    if release.exists():
        for line in release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                found["os"] += f" ({line.split('=', 1)[1].strip(chr(34))})"
    return found


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            if name not in ("httpx", "httpx2"):
                found[name] = "not installed"
    return found


def generated(report: Report, sizes: Sizes, seconds: float) -> str:
    """The part of RESULTS.md that ``--write`` replaces."""
    box = machine()
    packages = ", ".join(f"{name} {v}" for name, v in versions().items())
    flag = "" if sizes is FULL else " --quick"
    rows = [
        (r.target, r.limit_text(), r.measured_text(), r.ratio_text(), r.met_text())
        for r in report.rows
    ]
    return "\n".join(
        [
            "# Benchmark results",
            "",
            f"Generated by `python benchmarks/run.py{flag} --write` on "
            f"{datetime.date.today().isoformat()} ({sizes.name} sizes, {seconds / 60:.1f} min).",
            "",
            f"- machine: {box['cores']} cores, {box['cpu']}, {box['ram']} RAM; {box['os']}",
            f"- Python: {box['python']}",
            f"- packages: {packages}",
            "",
            "Medians; in brackets the lowest and highest of the repeats (in-process timings "
            f"ran {sizes.repeats} times, taking turns; sinks {sizes.sink_rounds} runs; import "
            f"{sizes.import_runs} fresh interpreters). *ratio* is the median divided by the "
            "limit.",
            "",
            markdown(("target", "limit", "measured", "ratio", "met"), rows),
            "",
            "## Every measurement",
            "",
            markdown(("benchmark", "what", "median (low-high)"), report.details),
            "",
            MARKER,
            "",
        ]
    )


def write_results(path: Path, text: str) -> None:
    """Replace what is above ``MARKER`` in ``path`` by ``text`` (which ends with it).

    A file without the marker is kept whole, below the new generated part: nothing
    written by hand is ever lost.
    """
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    _, found, kept = old.partition(MARKER)
    body = (kept if found else old).lstrip("\n")
    path.write_text(text.rstrip("\n") + "\n" + ("\n" + body if body else ""), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument("--write", action="store_true", help="regenerate RESULTS.md's table")
    parser.add_argument(
        "--cli-dir", type=Path, help="keep the CLI benchmark's store here and reuse it"
    )
    args = parser.parse_args(argv)
    bench_tokens.use_shipped_encodings()
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    report = run_all(sizes, args.cli_dir)
    seconds = time.perf_counter() - started
    print(table(report.rows))
    print(f"\n{sizes.name} run, {seconds:.0f} s")
    if args.write:
        write_results(RESULTS, generated(report, sizes, seconds))
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
