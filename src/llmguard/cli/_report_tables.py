"""The report's headline cards and tables: figures per group and the notable calls."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from html import escape

import llmguard.cli._format as fmt
from llmguard._core.records import Record
from llmguard.cli._aggregates import GroupStats
from llmguard.cli._dataset import Dataset
from llmguard.cli._report_charts import compact
from llmguard.cli._report_time import when
from llmguard.cli._stats import HEADER, group_row
from llmguard.cli._window import Window

_TOP_CALLS = 10
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
    rows = [group_row(g.key[0], g) for g in sorted(groups, key=lambda g: (-g.calls, g.key))]
    if len(groups) > 1:
        rows.append(group_row("(all)", total))
    return f"<section><h2>{escape(heading)}</h2>{html_table((by, *HEADER), rows)}</section>"


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
    slowest = dataset.calls(span, order_by="duration_ms", limit=_TOP_CALLS)
    costly = [
        r
        for r in dataset.calls(span, order_by="cost_usd", limit=_TOP_CALLS)
        if r.cost_usd is not None
    ]
    failed = dataset.calls(span, order_by="newest", failed=True, limit=_TOP_CALLS)
    command = f"llmguard show {shlex.quote(source)} TRACE_ID"
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
        command = f"llmguard show {shlex.quote(source)} {r.trace_id}"
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
            f'<td><code title="{escape(command)}">{escape(r.trace_id)}</code></td>'
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
