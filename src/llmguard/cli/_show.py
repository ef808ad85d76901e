"""``llmguard show``: one trace as a tree of spans, with timings, attempts and errors."""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from datetime import datetime, timezone

import llmguard.cli._format as fmt
from llmguard._core.records import Record
from llmguard.cli._args import Subparsers, add_path, opened
from llmguard.cli._dataset import DatasetError

__all__ = ["add_parser", "render", "run"]


def add_parser(commands: Subparsers) -> None:
    """Register ``show``."""
    parser = commands.add_parser(
        "show",
        help="one trace as a tree of spans",
        description="Print one trace's spans as a tree: timings, attempts, errors and usage.",
    )
    add_path(parser)
    parser.add_argument(
        "trace_id",
        metavar="TRACE_ID",
        help="the trace's id (32 hex digits), or a prefix of it no other trace's id starts "
        "with (4 characters or more)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the tree."""
    typed: str = args.trace_id
    with opened(args.path) as dataset:
        try:
            records = dataset.trace(typed)
        except DatasetError:
            # Pasted with a space, or in capitals: llmguard writes ids in lowercase hex.
            if typed.strip().lower() == typed:
                raise
            records = dataset.trace(typed.strip().lower())
    fmt.echo(render(records))
    return 0


def render(records: list[Record]) -> str:
    """The trace as text: a header line, then each span under its parent.

    Records whose parent is not in the trace (it was sampled out or is still running)
    are shown as roots, and so is the earliest span of a cycle of parents (a store not
    written by llmguard); every record is one entry of the tree, and a span nested more
    than `_DEEPEST` levels deep is drawn at that depth's indentation, its line marked
    with its depth. Text from the records is escaped (`llmguard.cli._format.escaped`);
    the lines of a multi-line message stay indented under their span. The offset of a
    span whose start is no time is shown as ``+?``.
    """
    ids = {r.span_id for r in records}
    children: defaultdict[str | None, list[Record]] = defaultdict(list)
    for record in records:
        parent = record.parent_id if record.parent_id in ids else None
        children[parent].append(record)
    starts = {id(r): _seconds(r.start) for r in records}
    timed = [(at, r.start) for r in records if (at := starts[id(r)]) is not None]
    origin, first_start = min(timed) if timed else (None, min(r.start for r in records))
    ends = [end for r in records if (end := _end(r, starts[id(r)])) is not None]
    total = None if origin is None or not ends else (max(ends) - origin) * 1000
    service = next((r.service for r in records if r.service), None)
    lines = [
        f"trace {fmt.escaped(records[0].trace_id)}  {fmt.escaped(first_start)}  "
        f"{fmt.duration(total)}" + (f"  service {fmt.escaped(service)}" if service else "")
    ]

    drawn: set[int] = set()

    def draw(top: Record) -> None:
        # A stack of its own, not recursion: a trace may be deeper than Python's limit.
        drawn.add(id(top))
        stack = [(top, "", True, 0)]
        while stack:
            record, prefix, last, depth = stack.pop()
            branch = "" if depth == 0 else ("└─ " if last else "├─ ")
            start = starts[id(record)]
            offset = None if start is None or origin is None else (start - origin) * 1000
            # Past `_DEEPEST` levels the indentation stops growing, or a chain of spans
            # would print in quadratic size; each line then says its depth.
            mark = f"(depth {depth}) " if depth > _DEEPEST else ""
            lines.append(f"{prefix}{branch}{mark}{_summary(record, offset)}")
            grow = 0 < depth < _DEEPEST
            inner = prefix + ("   " if last else "│  ") if grow else prefix
            for detail in _details(record):
                head, *rest = detail.replace("\r\n", "\n").split("\n")
                lines.append(f"{inner}    {fmt.escaped(head)}")
                lines.extend(f"{inner}      {fmt.escaped(line)}" for line in rest)
            # A record is drawn once, under the first span that reaches it, even when
            # several spans share its parent's id.
            kids = [kid for kid in children.get(record.span_id, []) if id(kid) not in drawn]
            drawn.update(map(id, kids))
            stack.extend(
                (kid, inner, index == 0, depth + 1) for index, kid in enumerate(reversed(kids))
            )

    for root in children[None]:
        draw(root)
    # What no root reaches: spans whose parents form a cycle, each cycle from its
    # earliest span.
    for record in records:
        if id(record) not in drawn:
            draw(record)
    return "\n".join(lines)


# How many levels of a trace `render` indents; a deeper span is drawn at this depth.
_DEEPEST = 32


def _summary(record: Record, offset_ms: float | None) -> str:
    parts = [
        record.name,
        f"[{record.kind}]",
        record.status,
        "+?" if offset_ms is None else f"+{fmt.duration(offset_ms)}",
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
    return "  ".join(map(fmt.escaped, parts))


def _details(record: Record) -> list[str]:
    """Lines under a span; a message's or a value's own newlines are kept, to indent."""
    details = []
    if record.error_type:
        message = f": {record.error_message}" if record.error_message else ""
        details.append(f"error: {fmt.escaped(record.error_type)}{message}")
    for error in (record.attempt or {}).get("errors", []):
        if isinstance(error, dict):
            got = f" (got {error['value']})" if error.get("value") is not None else ""
            path = fmt.escaped(error.get("path", "$"))
            details.append(f"{path}: {error.get('message', '')}{got}")
    if record.limits:
        details.append(
            "limit: "
            + fmt.escaped(", ".join(f"{key}={value}" for key, value in record.limits.items()))
        )
    return details


def _end(record: Record, start: float | None) -> float | None:
    end = _seconds(record.end)
    if end is None and start is not None and math.isfinite(record.duration_ms):
        return start + record.duration_ms / 1000
    return end


def _seconds(iso: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.timestamp()
    except (ValueError, OverflowError):
        return None
