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
import contextlib
import os
import shlex
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from html import escape
from pathlib import Path
from typing import Literal

import llmguard.cli._format as fmt
from llmguard._core.records import Record
from llmguard._version import __version__
from llmguard.cli._args import Subparsers, add_path, add_window, opened, window
from llmguard.cli._charts import Series, chart, legend
from llmguard.cli._dataset import Dataset, DatasetError, Window
from llmguard.cli._drift import Check, Report, load_by, show_p, show_value
from llmguard.cli._errors import CommandError
from llmguard.cli._html import MAX_SERIES, page
from llmguard.cli._quantiles import GroupStats
from llmguard.cli._significance import Sample
from llmguard.cli._stats import group_row, header, shows_repaired

__all__ = ["add_parser", "build", "run", "show_command"]

# -- time buckets: picking hours or days, listing every key, labelling them

Unit = Literal["day", "hour"]

# Below this span of data, "auto" charts by the hour.
_HOURLY_BELOW = timedelta(days=3)
# More buckets than this make a page nobody can read; ask for a coarser unit instead.
_MAX_BUCKETS = 1000
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_KEY_FORMAT = {"day": "%Y-%m-%d", "hour": "%Y-%m-%dT%H:00"}


def parse_time(iso: str) -> datetime:
    """A record's ISO 8601 time (``Z`` or an offset) as an aware datetime."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def when(iso: str) -> str:
    """An ISO 8601 time to the minute as the page shows it: ``2024-05-01 13:45``."""
    return iso[:16].replace("T", " ")


def auto_unit(first: str, last: str) -> Unit:
    """Hours when the calls from ``first`` to ``last`` span less than three days, else days."""
    return "hour" if parse_time(last) - parse_time(first) < _HOURLY_BELOW else "day"


def bucket_keys(first: str, last: str, unit: Unit) -> list[str]:
    """Every bucket key from the first call's to the last's, empty ones included.

    Raises:
        CommandError: More buckets than a chart can show.
    """
    key = _KEY_FORMAT[unit]
    step = timedelta(days=1) if unit == "day" else timedelta(hours=1)
    at = datetime.strptime(parse_time(first).strftime(key), key)
    end = datetime.strptime(parse_time(last).strftime(key), key)
    count = int((end - at) / step) + 1
    if count > _MAX_BUCKETS:
        raise CommandError(
            f"{count:,} {unit}s of calls are too many to chart; "
            "use --bucket day or a narrower --since/--until"
        )
    return [(at + step * i).strftime(key) for i in range(count)]


def axis_label(key: str) -> str:
    """A bucket key as an x-axis label: ``1 May`` for a day or midnight, else ``13h``."""
    day = f"{int(key[8:10])} {_MONTHS[int(key[5:7]) - 1]}"
    if len(key) == 10 or key.endswith("T00:00"):
        return day
    return f"{key[11:13]}h"


def bucket_name(key: str) -> str:
    """A bucket key spelled out for a hover: ``Wed 2024-05-01`` or ``… UTC, the hour after``."""
    if len(key) == 10:
        return f"{datetime.strptime(key, '%Y-%m-%d').strftime('%a')} {key}"
    return f"{key.replace('T', ' ')} UTC, the hour after"


# -- The report's chart sections: one chart per metric over time, one series per group.


@dataclass(frozen=True, slots=True)
class _Metric:
    title: str
    figure: Callable[[GroupStats], float | None]
    stacked: bool
    axis: Callable[[float], str]
    show: Callable[[float], str]
    empty: str


def compact(value: float) -> str:
    """A number to three significant digits, with ``k`` or ``M`` past a thousand."""
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


def _axis_percent(value: float) -> str:
    return f"{value * 100:.3g}%"


def _axis_money(value: float) -> str:
    return f"${value:.3g}" if value else "$0"


def _axis_duration(value: float) -> str:
    return fmt.duration(value) if value else "0"


def _decimal(value: float) -> str:
    return f"{value:.2f}"


_METRICS = (
    _Metric("Calls", lambda g: g.calls, True, compact, fmt.count, "no calls"),
    _Metric("Failure rate", lambda g: g.error_rate, False, _axis_percent, fmt.percent, ""),
    _Metric(
        "Schema failure rate",
        lambda g: g.schema_failure_rate,
        False,
        _axis_percent,
        fmt.percent,
        "",
    ),
    _Metric(
        "Retries per call",
        lambda g: g.mean_retries,
        False,
        compact,
        _decimal,
        "no attempt counts recorded",
    ),
    _Metric("p95 latency", lambda g: g.p95_ms, False, _axis_duration, fmt.duration, ""),
    _Metric(
        "Tokens (in + out)",
        lambda g: g.input_tokens + g.output_tokens,
        True,
        compact,
        fmt.tokens,
        "no token usage recorded",
    ),
    _Metric("Cost", lambda g: g.cost_usd, True, _axis_money, fmt.money, "no cost recorded"),
    _Metric(
        "Feedback score (mean)",
        lambda g: g.feedback_mean,
        False,
        compact,
        _decimal,
        "no feedback recorded",
    ),
)


def charts_section(
    found: list[GroupStats],
    unit: Unit,
    buckets: list[str],
    by: str,
    heading: str,
    *,
    exclude: str | None,
) -> str:
    """One chart per metric over ``buckets``, one series per group of ``by``.

    Args:
        found: The figures per (bucket, group) of the calls in the report's window.
        unit: The buckets' time unit.
        buckets: Every bucket key, in order; the x axis.
        by: The grouping column, e.g. ``"name"`` or ``"prompt"``.
        heading: The section's heading.
        exclude: A group left out of the charts (calls naming no prompt), if any.
    """
    figures: dict[tuple[str, str], GroupStats] = {}
    calls: dict[str, float] = {}
    for group in found:
        figures[(group.key[0], group.key[1])] = group
        calls[group.key[1]] = calls.get(group.key[1], 0.0) + group.calls
    calls.pop(exclude or "", None)
    if not calls:
        return (
            f"<section><h2>{escape(heading)}</h2>"
            '<p class="note">No call in this window names a prompt version.</p></section>'
        )
    ranked = sorted(calls, key=lambda k: (-calls[k], k))
    shown = ranked[:MAX_SERIES]
    notes = []
    if len(ranked) > len(shown):
        notes.append(f"The {len(shown)} busiest of {len(ranked)} are drawn; the table lists all.")
    if exclude is not None:
        notes.append("Calls that name no prompt are left out.")
    axis_labels = [axis_label(b) for b in buckets]
    names = [bucket_name(b) for b in buckets]
    plots = []
    for metric in _METRICS:
        series = [
            Series(
                key,
                index,
                [
                    None if (g := figures.get((b, key))) is None else metric.figure(g)
                    for b in buckets
                ],
            )
            for index, key in enumerate(shown)
        ]
        plots.append(
            chart(
                metric.title,
                axis_labels,
                names,
                series,
                stacked=metric.stacked,
                axis=metric.axis,
                show=metric.show,
                empty=metric.empty,
            )
        )
    note = f'<p class="note">{escape(" ".join(notes))}</p>' if notes else ""
    return (
        f"<section data-series><h2>{escape(heading)}</h2>{note}{legend(shown)}"
        f'<div class="grid">{"".join(plots)}</div></section>'
    )


# -- The report's headline cards and tables: figures per group and the notable calls.

_TOP_CALLS = 10
# The notable calls' lists: how each is ordered and whether only failed calls.
_NOTABLE: tuple[tuple[Literal["duration_ms", "cost_usd", "newest"], bool], ...] = (
    ("duration_ms", False),
    ("cost_usd", False),
    ("newest", True),
)
_MESSAGE_CHARS = 240


def headline(total: GroupStats, functions: int, prompts: int) -> str:
    """The cards at the top: the totals over all calls, and how many groups there are."""
    feedback = "-" if total.feedback_mean is None else f"{total.feedback_mean:.2f}"
    retries = "-" if total.mean_retries is None else f"{total.mean_retries:.2f}"
    cards = (
        ("Calls", fmt.count(total.calls), f"{functions} functions · {prompts} prompt versions"),
        ("Failure rate", fmt.percent(total.error_rate), "status error"),
        ("Schema failures", fmt.percent(total.schema_failure_rate), "never matched the schema"),
        ("Retries per call", retries, f"limit hits {fmt.count(total.limit_hits)}"),
        ("p95 latency", fmt.duration(total.p95_ms), f"p50 {fmt.duration(total.p50_ms)}"),
        (
            "Tokens",
            compact(total.input_tokens + total.output_tokens),
            f"{compact(total.input_tokens)} in · {compact(total.output_tokens)} out",
        ),
        ("Cost", fmt.money(total.cost_usd), "priced calls"),
        ("Feedback", feedback, f"mean of {total.feedback_count} scores"),
    )
    items = "".join(
        f'<div class="card"><div class="k">{escape(k)}</div><div class="v">{escape(v)}</div>'
        f'<div class="d">{escape(d)}</div></div>'
        for k, v, d in cards
    )
    return f'<section class="cards">{items}</section>'


def table_section(heading: str, by: str, groups: list[GroupStats], total: GroupStats) -> str:
    """The ``stats`` figures per group, busiest first, with a total row for several groups."""
    repaired = shows_repaired(groups)
    rows = [
        group_row(g.key[0], g, repaired=repaired)
        for g in sorted(groups, key=lambda g: (-g.calls, g.key))
    ]
    if len(groups) > 1:
        rows.append(group_row("(all)", total, repaired=repaired))
    table = html_table((by, *header(repaired=repaired)), rows)
    return f"<section><h2>{escape(heading)}</h2>{table}</section>"


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1) -> str:
    """An escaped HTML table; the first ``left`` columns are left-aligned, the rest numeric."""

    def cells(tag: str, values: Sequence[str]) -> str:
        return "".join(
            f"<{tag}{'' if i < left else ' class=n'}>{escape(v)}</{tag}>"
            for i, v in enumerate(values)
        )

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return (
        f'<div class="scroll"><table><thead><tr>{cells("th", header)}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def calls_section(dataset: Dataset, span: Window, source: str) -> str:
    """The slowest, most expensive and latest failed calls, each with its ``show`` command."""
    slowest, costly, failed = (
        dataset.calls(span, order_by=order, failed=only_failed, limit=_TOP_CALLS)
        for order, only_failed in _NOTABLE
    )
    costly = [r for r in costly if r.cost_usd is not None]
    command = show_command(source, "TRACE_ID")
    parts = [
        "<section><h2>Notable calls</h2>",
        f'<p class="note">See one in full with <code>{escape(command)}</code>; '
        "hover a trace id for its command.</p>",
    ]
    for heading, records, empty in (
        ("Slowest", slowest, "No timed calls."),
        ("Most expensive", costly, "No call has a cost."),
        ("Latest failures", failed, "No call failed."),
    ):
        parts.append(f"<h3>{heading}</h3>")
        if records:
            parts.append(_calls_table(records, source))
        else:
            parts.append(f'<p class="note">{empty}</p>')
    parts.append("</section>")
    return "".join(parts)


def show_command(source: str, trace_id: str) -> str:
    """The ``llmguard show`` command for one trace, each argument quoted for a POSIX shell.

    ``--`` goes before the arguments when one starts with ``-``, so that neither is read
    as an option.
    """
    dashes = "-- " if source.startswith("-") or trace_id.startswith("-") else ""
    return f"llmguard show {dashes}{shlex.quote(source)} {shlex.quote(trace_id)}"


def _calls_table(records: list[Record], source: str) -> str:
    rows = []
    for r in records:
        prompt = f"{r.prompt_name}@{r.prompt_version}" if r.prompt_version else r.prompt_name
        error = ""
        if r.error_type:
            message = (r.error_message or "")[:_MESSAGE_CHARS]
            error = (
                f'<span title="{escape(r.error_type)}">{escape(r.error_type.rsplit(".", 1)[-1])}'
                f"</span>{': ' if message else ''}{escape(message)}"
            )
        # A browser reads a raw CR in an attribute as LF, a character reference as CR.
        title = escape(show_command(source, r.trace_id)).replace("\r", "&#13;")
        rows.append(
            "<tr>"
            f"<td>{escape(when(r.start))}</td>"
            f"<td>{escape(r.name)}</td>"
            f"<td>{escape(r.kind)}</td>"
            f'<td class="{"" if r.status == "ok" else "bad"}">{escape(r.status)}</td>'
            f'<td class="n">{escape(fmt.duration(r.duration_ms))}</td>'
            f'<td class="n">{escape(fmt.money(r.cost_usd))}</td>'
            f"<td>{escape(r.model or '-')}</td>"
            f"<td>{escape(prompt or '-')}</td>"
            f'<td class="msg">{error}</td>'
            f'<td><code title="{title}">{escape(r.trace_id)}</code></td>'
            "</tr>"
        )
    header = "".join(
        f"<th{' class=n' if h in ('duration', 'cost') else ''}>{h}</th>"
        for h in (
            "start (UTC)",
            "function",
            "kind",
            "status",
            "duration",
            "cost",
            "model",
            "prompt",
            "error",
            "trace",
        )
    )
    return (
        f'<div class="scroll"><table><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


# -- The report's drift section: what ``llmguard drift`` finds in the current window.

_DRIFT_BASELINE = timedelta(days=7)


def drift_section(
    dataset: Dataset,
    span: Window,
    last: str,
    baseline: Window | None,
    current: Window | None,
) -> str:
    """What `llmguard drift` reports for the current window, by function and prompt."""
    if current is None:
        day = parse_time(last).date()
        current = Window.parse(day.isoformat(), (day + timedelta(days=1)).isoformat())
    if baseline is None:
        end = parse_time(current.since or last)
        # A --current from the first week of year 1 has less than a week before it.
        begin = max(end, datetime.min.replace(tzinfo=timezone.utc) + _DRIFT_BASELINE)
        baseline = Window.parse((begin - _DRIFT_BASELINE).isoformat(), end.isoformat())
    before, after = _clip(baseline, span), _clip(current, span)
    samples: list[dict[tuple[str, ...], dict[str, Sample]]] = []
    for part in (before, after):
        merged: dict[tuple[str, ...], dict[str, Sample]] = {}
        loaded = load_by(dataset, ("name", "prompt"), part)
        for label, per_group in zip(("function", "prompt"), loaded, strict=True):
            for key, found in per_group.items():
                group = (label, *key)
                if key != ("-",):
                    merged[group] = found
        samples.append(merged)
    check = Check()
    report = check(samples[0], samples[1])
    return _drift_html(report, check, before, after)


def _clip(part: Window, span: Window) -> Window:
    since = max((b for b in (part.since, span.since) if b is not None), default=None)
    until = min((b for b in (part.until, span.until) if b is not None), default=None)
    if since is not None and until is not None and until < since:
        until = since
    return Window(since, until)


def _drift_html(report: Report, check: Check, before: Window, after: Window) -> str:
    criteria = (
        f"a change is shown when significant after Benjamini-Hochberg at alpha "
        f"{check.alpha:g} and |effect| ≥ {check.min_effect:g}; groups need "
        f"{check.min_calls} calls a side"
    )
    heading = (
        f'<h2>Drift</h2><p class="note">Current window {escape(_span_text(after))} against '
        f"the baseline {escape(_span_text(before))}; {escape(criteria)}.</p>"
    )
    drifted = report.drifted
    if drifted:
        rows = [
            [
                f.group[0],
                "/".join(f.group[1:]),
                f.metric,
                show_value(f.metric, f.baseline),
                show_value(f.metric, f.current),
                f.change,
                f"{f.effect_name} {f.comparison.effect:+.2f}",
                show_p(f.adjusted_p),
            ]
            for f in drifted
        ]
        header = ("by", "group", "metric", "baseline", "current", "change", "effect", "adj. p")
        body = html_table(header, rows, left=3)
    elif report.findings:
        body = (
            f'<p class="ok">No drift: none of the {len(report.findings)} comparisons moved '
            "beyond noise.</p>"
        )
    else:
        body = '<p class="note">Nothing compared: no group has enough calls in both windows.</p>'
    notes = ""
    if report.notes:
        items = "".join(f"<li>{escape(note)}</li>" for note in report.notes)
        notes = (
            f"<details><summary>{len(report.notes)} groups not compared</summary>"
            f"<ul>{items}</ul></details>"
        )
    return f'<section class="drift">{heading}{body}{notes}</section>'


def _span_text(part: Window) -> str:
    since = when(part.since) if part.since else "…"
    until = when(part.until) if part.until else "…"
    return f"{since} to {until}"


# -- the command: building the page and writing it


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
    output = Path(args.output)
    _not_the_records(output, Path(args.path), args.output)
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
    try:
        _write(output, document)
    except BrokenPipeError:
        raise  # a reader of /dev/stdout that went away: the command ends quietly
    except OSError as exc:
        raise CommandError(f"{args.output}: cannot write: {exc.strerror}") from None
    fmt.echo(
        f"wrote {fmt.escaped(args.output)} ({fmt.count(calls)} calls, "
        f"{len(document) // 1024:,} KiB)"
    )
    return 0


# An SQLite store's companion files: its write-ahead log and shared memory, and the
# rollback journal of a store not in WAL mode.
_COMPANIONS = ("-wal", "-shm", "-journal")


def _not_the_records(output: Path, records: Path, shown: str) -> None:
    """Refuse an output that is the records' file, by any name, or one of an SQLite
    store's companion files: the page would replace the records.

    Raises:
        CommandError: ``output`` is one of those files.
    """
    files = [records, *(records.with_name(records.name + suffix) for suffix in _COMPANIONS)]
    for file in files:
        same = output.resolve() == file.resolve()
        with contextlib.suppress(OSError):  # either may not exist
            same = same or output.samefile(file)
        if same:
            raise CommandError(
                f"{shown}: this is {'the file of' if file == records else 'a file of'} the "
                f"records being read ({records}); choose another output file"
            )


def _write(output: Path, document: str) -> None:
    """Write the page whole or not at all: into a new file beside the output, then moved
    over it, so a full disk leaves the previous report as it was. An output that is no
    regular file (``/dev/stdout``, a pipe) is written to as it is."""
    try:
        mode = os.stat(output).st_mode
    except FileNotFoundError:
        mode = stat.S_IFREG
    if not stat.S_ISREG(mode):
        output.write_text(document, encoding="utf-8")
        return
    target = output.resolve()  # a symlink keeps pointing at the new report
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(document, encoding="utf-8")
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


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
    bounds = dataset.span(span)
    if bounds.since is None or bounds.until is None:
        raise CommandError(f"no calls in {source} between {span}")
    first, last = bounds.since, bounds.until
    unit: Unit = bucket if bucket != "auto" else auto_unit(first, last)
    buckets = bucket_keys(first, last, unit)
    groupings = (("name",), ("prompt",), (unit, "name"), (unit, "prompt"))
    # The store's second connection runs the four groupings' aggregates and finds the
    # notable calls while this thread computes the drift section, whose work is Python.
    dataset.prefetch_summaries(groupings, span)
    for order, failed in _NOTABLE:
        dataset.prefetch_calls(span, order_by=order, failed=failed, limit=_TOP_CALLS)
    drift = drift_section(dataset, span, last, baseline, current)
    # One read of the calls' latencies serves the four groupings.
    (functions, total), (prompts, _), (per_function, _), (per_prompt, _) = dataset.summaries(
        groupings, span
    )
    if total is None:
        raise CommandError(f"no calls in {source} between {span}")
    title = title or f"llmguard report: {Path(source).name}"
    made = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        "<header>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">{escape(source)} · calls from {escape(when(first))} to '
        f"{escape(when(last))} UTC · one point per {unit}</p>",
        "</header>",
        headline(total, len(functions), len([p for p in prompts if p.key[0] != "-"])),
        drift,
        charts_section(per_function, unit, buckets, "name", "Per function", exclude=None),
        charts_section(per_prompt, unit, buckets, "prompt", "Per prompt version", exclude="-"),
        table_section("Functions", "function", functions, total),
        table_section("Prompt versions", "prompt version", prompts, total),
        calls_section(dataset, span, source),
        f"<footer>Made by llmguard {escape(__version__)} on {made}. This page loads "
        "nothing from the network; hover a chart for its figures.</footer>",
    ]
    return page(title, "\n".join(body)), total.calls
