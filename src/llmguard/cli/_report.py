"""``llmguard report``: one self-contained HTML page of charts and tables over the calls.

The page loads nothing. Its CSS, script and SVG charts are inline, and its Content
Security Policy allows no other source and no script or style but its own (by hash),
so a report can be mailed, archived and opened offline, and text from a record can
neither load nor run anything. Record strings are untrusted and escaped everywhere.
The charts are drawn in Python (`llmguard.cli._charts`) and need no script; the
script only lets a legend entry bring one series forward.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Literal

import llmguard.cli._format as fmt
from llmguard._version import __version__
from llmguard.cli._args import Subparsers, add_path, add_window, opened, window
from llmguard.cli._dataset import Dataset
from llmguard.cli._errors import CommandError
from llmguard.cli._html import page
from llmguard.cli._report_charts import charts_section
from llmguard.cli._report_drift import drift_section
from llmguard.cli._report_tables import calls_section, headline, table_section
from llmguard.cli._report_time import Unit, auto_unit, bucket_keys, when
from llmguard.cli._window import DatasetError, Window

__all__ = ["add_parser", "build", "run"]


def add_parser(commands: Subparsers) -> None:
    """Register ``report``."""
    parser = commands.add_parser(
        "report",
        help="write a self-contained HTML report: charts over time, drift, notable calls",
        description=(
            "Write one HTML file that opens offline: headline figures; calls, failure "
            "and retry rates, p95 latency, tokens, cost and feedback over time, per "
            "function and per prompt version; what drifted in the last day against the "
            "week before it (or the windows given); figures per function and prompt "
            "version; and the slowest, most expensive and latest failed calls."
        ),
    )
    add_path(parser)
    parser.add_argument(
        "-o", "--output", metavar="FILE", required=True, help="the HTML file to write"
    )
    add_window(parser)
    parser.add_argument(
        "--bucket",
        choices=("auto", "day", "hour"),
        default="auto",
        help="time unit of the charts (default: auto, hours when the calls span < 3 days)",
    )
    parser.add_argument("--title", help="the page's title (default: from the file name)")
    parser.add_argument(
        "--baseline",
        metavar="A..B",
        help="drift: the reference window (default: the 7 days before --current)",
    )
    parser.add_argument(
        "--current",
        metavar="C..D",
        help="drift: the window to check (default: the day of the last call)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write the report and say where."""
    span = window(args)
    baseline = _range("--baseline", args.baseline)
    current = _range("--current", args.current)
    with opened(args.path) as dataset:
        document, calls = build(
            dataset,
            args.path,
            span,
            bucket=args.bucket,
            title=args.title,
            baseline=baseline,
            current=current,
        )
    output = Path(args.output)
    try:
        output.write_text(document, encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"{args.output}: cannot write: {exc.strerror}") from None
    print(f"wrote {args.output} ({fmt.count(calls)} calls, {len(document) // 1024:,} KiB)")
    return 0


def _range(option: str, text: str | None) -> Window | None:
    if text is None:
        return None
    try:
        return Window.parse_range(text)
    except DatasetError as exc:
        raise CommandError(f"{option}: {exc}") from None


def build(
    dataset: Dataset,
    source: str,
    span: Window,
    *,
    bucket: Literal["auto", "day", "hour"] = "auto",
    title: str | None = None,
    baseline: Window | None = None,
    current: Window | None = None,
    now: datetime | None = None,
) -> tuple[str, float]:
    """The report's HTML, and the number of calls it covers.

    Args:
        dataset: The records.
        source: The file's name as the reader typed it, for the page and its commands.
        span: Only calls in this window.
        bucket: The charts' time unit; ``"auto"`` picks hours below three days of data.
        title: The page's title.
        baseline: The drift check's reference window; by default the 7 days before
            ``current``.
        current: The window the drift check looks at; by default the day of the last
            call.
        now: When the report was made, as the footer says; the current time by default.

    Raises:
        CommandError: No call in the window, or too many buckets to draw.
    """
    functions, total = dataset.summary(("name",), span)
    if total is None:
        raise CommandError(f"no calls in {source} between {span}")
    bounds = dataset.span(span)
    first, last = str(bounds.since), str(bounds.until)
    unit: Unit = bucket if bucket != "auto" else auto_unit(first, last)
    buckets = bucket_keys(first, last, unit)
    prompts = dataset.summary(("prompt",), span)[0]
    title = title or f"llmguard report: {Path(source).name}"
    made = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        "<header>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">{escape(source)} · calls from {escape(when(first))} to '
        f"{escape(when(last))} UTC · one point per {unit}</p>",
        "</header>",
        headline(total, len(functions), len([p for p in prompts if p.key[0] != "-"])),
        drift_section(dataset, span, last, baseline, current),
        charts_section(dataset, span, unit, buckets, "name", "Per function", exclude=None),
        charts_section(dataset, span, unit, buckets, "prompt", "Per prompt version", exclude="-"),
        table_section("Functions", "function", functions, total),
        table_section("Prompt versions", "prompt version", prompts, total),
        calls_section(dataset, span, source),
        f"<footer>Made by llmguard {escape(__version__)} on {made}. This page loads "
        "nothing from the network; hover a chart for its figures.</footer>",
    ]
    return page(title, "\n".join(body)), total.calls
