"""``llmguard show``: one trace as a tree of spans, with timings, attempts and errors."""

from __future__ import annotations

import argparse
from collections import defaultdict
from datetime import datetime

import llmguard.cli._format as fmt
from llmguard._core.records import Record
from llmguard.cli._args import Subparsers, add_path, opened

__all__ = ["add_parser", "render", "run"]


def add_parser(commands: Subparsers) -> None:
    """Register ``show``."""
    parser = commands.add_parser(
        "show",
        help="one trace as a tree of spans",
        description="Print one trace's spans as a tree: timings, attempts, errors and usage.",
    )
    add_path(parser)
    parser.add_argument("trace_id", metavar="TRACE_ID", help="the trace's id (32 hex digits)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the tree."""
    with opened(args.path) as dataset:
        records = dataset.trace(args.trace_id.strip().lower())
    print(render(records))
    return 0


def render(records: list[Record]) -> str:
    """The trace as text: a header line, then each span under its parent.

    Records whose parent is not in the trace (it was sampled out or is still running)
    are shown as roots.
    """
    ids = {r.span_id for r in records}
    children: defaultdict[str | None, list[Record]] = defaultdict(list)
    for record in records:
        parent = record.parent_id if record.parent_id in ids else None
        children[parent].append(record)
    origin = _seconds(min(r.start for r in records))
    first = records[0]
    end = max(r.end for r in records)
    service = next((r.service for r in records if r.service), None)
    lines = [
        f"trace {first.trace_id}  {min(r.start for r in records)}  "
        f"{fmt.duration((_seconds(end) - origin) * 1000)}"
        + (f"  service {service}" if service else "")
    ]

    def walk(record: Record, prefix: str, last: bool, root: bool) -> None:
        branch = "" if root else ("└─ " if last else "├─ ")
        offset = (_seconds(record.start) - origin) * 1000
        lines.append(f"{prefix}{branch}{_summary(record, offset)}")
        inner = prefix if root else prefix + ("   " if last else "│  ")
        for detail in _details(record):
            lines.append(f"{inner}    {detail}")
        kids = children.get(record.span_id, [])
        for index, child in enumerate(kids):
            walk(child, inner, index == len(kids) - 1, False)

    for root in children[None]:
        walk(root, "", True, True)
    return "\n".join(lines)


def _summary(record: Record, offset_ms: float) -> str:
    parts = [
        record.name,
        f"[{record.kind}]",
        record.status,
        f"+{fmt.duration(offset_ms)}",
        fmt.duration(record.duration_ms),
    ]
    attempt = record.attempt or {}
    if record.kind == "attempt" and "outcome" in attempt:
        parts.append(str(attempt["outcome"]))
    if record.kind == "llm" and "count" in attempt:
        count = attempt["count"]
        parts.append(f"{count} attempt{'s' if count != 1 else ''}")
    if record.model:
        parts.append(record.model)
    usage = record.usage
    if usage is not None and (usage.input is not None or usage.output is not None):
        estimated = " est." if usage.estimated else ""
        parts.append(f"tokens {usage.input or 0} in / {usage.output or 0} out{estimated}")
    if record.cost_usd is not None:
        parts.append(fmt.money(record.cost_usd))
    if record.kind == "feedback" and "score" in record.metadata:
        parts.append(f"score {record.metadata['score']}")
    return "  ".join(parts)


def _details(record: Record) -> list[str]:
    details = []
    if record.error_type:
        message = f": {record.error_message}" if record.error_message else ""
        details.append(f"error: {record.error_type}{message}")
    for error in (record.attempt or {}).get("errors", []):
        if isinstance(error, dict):
            got = f" (got {error['value']})" if error.get("value") is not None else ""
            details.append(f"{error.get('path', '$')}: {error.get('message', '')}{got}")
    if record.limits:
        details.append(
            "limit: " + ", ".join(f"{key}={value}" for key, value in record.limits.items())
        )
    return details


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
