"""Write two weeks of made-up traffic to a store, then the HTML report over it.

Four functions answer about 3,500 calls between Monday 2 and Sunday 15 February
2026, fewer at night and at weekends. On Tuesday 10 February at 09:00 ``summarize``
moves to a new prompt version, ``summarize@v2``, that is worse: more answers miss the
schema, so more retries and failures, longer and slower answers, lower feedback.
The report's charts show the step and its drift table names it, comparing the week
before the change with the days after. Runs offline in a second or two::

    python examples/report_demo.py [OUTPUT_DIR] [--screenshot PNG]

It writes ``demo.db`` and ``report.html`` into OUTPUT_DIR (the current directory by
default); ``llmguard stats OUTPUT_DIR/demo.db`` and friends work on the store too.
With ``--screenshot``, it also photographs the top of the report with Playwright and
a local Chromium (``/usr/bin/chromium`` unless ``--chromium`` says otherwise); that is
how the picture in ``docs/cli.md`` is made.
"""

from __future__ import annotations

import argparse
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from llmguard import Record, Usage
from llmguard.cli import main
from llmguard.sinks import SQLiteSink

START = datetime(2026, 2, 2, tzinfo=timezone.utc)
DAYS = 14
CHANGE = datetime(2026, 2, 10, 9, tzinfo=timezone.utc)
SCHEMA_VIOLATION = "llmguard.exceptions.SchemaViolation"
# Dollars per million tokens, input and output.
PRICES = {"gpt-4o-mini": (0.15, 0.60), "gpt-4o": (2.50, 10.00)}


@dataclass(frozen=True)
class Function:
    """How one made-up function behaves."""

    name: str
    kind: str
    model: str | None
    prompt: tuple[str, str] | None
    per_day: int
    latency_ms: float
    input_tokens: int
    output_tokens: int
    schema_miss: float
    error_rate: float
    feedback: float | None


FUNCTIONS = (
    Function(
        name="summarize",
        kind="llm",
        model="gpt-4o-mini",
        prompt=("summarize", "v1"),
        per_day=110,
        latency_ms=900,
        input_tokens=1800,
        output_tokens=220,
        schema_miss=0.04,
        error_rate=0.005,
        feedback=0.84,
    ),
    Function(
        name="classify_ticket",
        kind="llm",
        model="gpt-4o-mini",
        prompt=("triage", "v3"),
        per_day=80,
        latency_ms=420,
        input_tokens=650,
        output_tokens=40,
        schema_miss=0.02,
        error_rate=0.004,
        feedback=0.9,
    ),
    Function(
        name="extract_invoice",
        kind="llm",
        model="gpt-4o",
        prompt=("extract", "v2"),
        per_day=30,
        latency_ms=2100,
        input_tokens=3200,
        output_tokens=380,
        schema_miss=0.06,
        error_rate=0.01,
        feedback=None,
    ),
    Function(
        name="search_docs",
        kind="tool",
        model=None,
        prompt=None,
        per_day=60,
        latency_ms=140,
        input_tokens=0,
        output_tokens=0,
        schema_miss=0.0,
        error_rate=0.01,
        feedback=None,
    ),
)
# What the new prompt version does to summarize.
WORSE = {"latency": 1.6, "output": 1.45, "schema_miss": 0.3, "feedback": 0.58}


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _busy(at: datetime) -> float:
    """Relative traffic: a working-hours hump, and a quiet weekend."""
    hour = at.hour + at.minute / 60
    day = 0.35 if at.weekday() >= 5 else 1.0
    return day * (0.25 + math.exp(-(((hour - 14) / 4.5) ** 2)))


def _calls(rng: random.Random, fn: Function, ids: list[int]) -> list[Record]:
    records = []
    for day in range(DAYS):
        for hour in range(24):
            slot = START + timedelta(days=day, hours=hour)
            expected = fn.per_day * _busy(slot) / 9.6
            for _ in range(_poisson(rng, expected)):
                at = slot + timedelta(seconds=rng.uniform(0, 3600))
                records.extend(_call(rng, fn, at, ids))
    return records


def _poisson(rng: random.Random, mean: float) -> int:
    count, total = 0, rng.expovariate(1.0)
    while total < mean:
        count += 1
        total += rng.expovariate(1.0)
    return count


def _call(rng: random.Random, fn: Function, at: datetime, ids: list[int]) -> list[Record]:
    ids[0] += 1
    trace, span = f"{rng.getrandbits(128):032x}", f"{ids[0]:016x}"
    worse = fn.name == "summarize" and at >= CHANGE
    prompt = ("summarize", "v2") if worse else fn.prompt
    miss = WORSE["schema_miss"] if worse else fn.schema_miss
    latency_scale = WORSE["latency"] if worse else 1.0
    attempts = 1
    while attempts < 3 and rng.random() < miss:
        attempts += 1
    failed = attempts == 3 and rng.random() < 0.5
    errored = not failed and rng.random() < fn.error_rate
    duration = 0.0
    records = []
    for number in range(1, attempts + 1):
        took = rng.lognormvariate(math.log(fn.latency_ms * latency_scale), 0.35)
        if fn.kind == "llm":
            outcome = "ok" if number == attempts and not failed else "schema_error"
            records.append(
                Record(
                    trace_id=trace,
                    span_id=f"{span}{number}",
                    parent_id=span,
                    name=f"attempt {number}",
                    kind="attempt",
                    start=_iso(at + timedelta(milliseconds=duration)),
                    end=_iso(at + timedelta(milliseconds=duration + took)),
                    duration_ms=took,
                    attempt={"number": number, "outcome": outcome},
                )
            )
        duration += took
    usage = cost = None
    if fn.model is not None:
        scale = WORSE["output"] if worse else 1.0
        tokens_in = int(rng.gauss(fn.input_tokens, fn.input_tokens * 0.2)) * attempts
        tokens_out = int(rng.gauss(fn.output_tokens * scale, fn.output_tokens * 0.25)) * attempts
        usage = Usage(input=tokens_in, output=tokens_out, total=tokens_in + tokens_out)
        price_in, price_out = PRICES[fn.model]
        cost = (tokens_in * price_in + tokens_out * price_out) / 1e6
    status = "error" if failed or errored else "ok"
    error_type = SCHEMA_VIOLATION if failed else ("TimeoutError" if errored else None)
    message = {
        SCHEMA_VIOLATION: "no answer matched the schema after 3 attempts",
        "TimeoutError": "the provider did not answer within 30 s",
    }.get(error_type or "")
    records.append(
        Record(
            trace_id=trace,
            span_id=span,
            name=fn.name,
            kind=fn.kind,  # type: ignore[arg-type]
            start=_iso(at),
            end=_iso(at + timedelta(milliseconds=duration)),
            duration_ms=duration,
            status=status,  # type: ignore[arg-type]
            error_type=error_type,
            error_message=message,
            model=fn.model,
            provider="openai" if fn.model else None,
            prompt_name=prompt[0] if prompt else None,
            prompt_version=prompt[1] if prompt else None,
            usage=usage,
            cost_usd=cost,
            attempt={"count": attempts} if fn.kind == "llm" else None,
        )
    )
    liked = WORSE["feedback"] if worse else fn.feedback
    if liked is not None and status == "ok" and rng.random() < 0.3:
        ids[0] += 1
        score = 1.0 if rng.random() < liked else rng.choice((0.0, 0.25, 0.5))
        when = at + timedelta(milliseconds=duration + rng.uniform(2000, 60000))
        records.append(
            Record(
                trace_id=trace,
                span_id=f"{ids[0]:016x}",
                parent_id=span,
                name="feedback",
                kind="feedback",
                start=_iso(when),
                end=_iso(when),
                duration_ms=0.0,
                metadata={"score": score},
            )
        )
    return records


def write_store(path: Path, seed: int = 7) -> int:
    """Write the demo records to an SQLite store; returns how many calls it holds."""
    rng = random.Random(seed)
    ids = [0]
    records = [r for fn in FUNCTIONS for r in _calls(rng, fn, ids)]
    records.sort(key=lambda r: r.start)
    sink = SQLiteSink(path)
    sink.emit(records)
    sink.close()
    return sum(r.kind in ("llm", "tool") for r in records)


def demo(output: Path) -> int:
    """Write ``demo.db`` and ``report.html`` into ``output``; returns the exit status."""
    output.mkdir(parents=True, exist_ok=True)
    store = output / "demo.db"
    store.unlink(missing_ok=True)
    calls = write_store(store)
    print(f"wrote {store} ({calls:,} calls)")
    return main(
        [
            "report",
            str(store),
            "-o",
            str(output / "report.html"),
            "--title",
            "Support assistant: 2 to 15 February 2026",
            "--baseline",
            "2026-02-03..2026-02-10",
            "--current",
            "2026-02-10..2026-02-16",
        ]
    )


def screenshot(report: Path, png: Path, chromium: str) -> None:
    """Photograph the report down to the end of its per-function charts."""
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(report.resolve().as_uri())
        box = page.locator("[data-series]").first.bounding_box()
        assert box is not None
        height = box["y"] + box["height"] + 24
        png.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=str(png), clip={"x": 0, "y": 0, "width": 1280, "height": height}, full_page=True
        )
        browser.close()
    print(f"wrote {png}")


def _main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", default=".", help="where to write the files")
    parser.add_argument("--screenshot", metavar="PNG", help="also photograph the report")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the browser to use")
    args = parser.parse_args()
    output = Path(args.output)
    status = demo(output)
    if status == 0 and args.screenshot:
        screenshot(output / "report.html", Path(args.screenshot), args.chromium)
    return status


if __name__ == "__main__":
    raise SystemExit(_main())
