"""``llmguard stats``: calls, failures, retries, latency, tokens, cost and feedback per group."""

from __future__ import annotations

import argparse

import llmguard.cli._format as fmt
from llmguard.cli._args import Subparsers, add_path, add_window, opened, window
from llmguard.cli._dataset import CALL_KINDS
from llmguard.cli._quantiles import GroupStats

__all__ = ["HEADER", "add_parser", "group_row", "header", "render", "run", "shows_repaired"]

_BY = ("name", "model", "prompt", "day", "status")
HEADER = (
    "calls",
    "errors",
    "schema",
    "retries",
    "limits",
    "p50",
    "p95",
    "p99",
    "tokens in",
    "tokens out",
    "cost",
    "feedback",
)
# Shown after "retries" when any attempt in the window was repaired by json-repair.
_REPAIRED = "repaired"
_AFTER = HEADER.index("retries") + 1


def add_parser(commands: Subparsers) -> None:
    """Register ``stats``."""
    parser = commands.add_parser(
        "stats",
        help="calls, error and retry rates, latency, tokens and cost per group",
        description=(
            "Figures per group of calls: error, schema-failure and limit-hit rates, mean "
            "retries, p50/p95/p99 latency, tokens, cost and mean feedback score; and, when "
            "there are any, the attempts whose answer json-repair made valid (repaired). "
            "Counts, tokens and cost are weighted by the records' sample weights."
        ),
    )
    add_path(parser)
    parser.add_argument("--by", choices=_BY, default="name", help="how to group (default: name)")
    add_window(parser)
    parser.add_argument(
        "--kind",
        choices=CALL_KINDS,
        action="append",
        help="count only these record kinds as calls (repeatable; default: all four)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the figures."""
    span = window(args)
    kinds = tuple(args.kind) if args.kind else CALL_KINDS
    with opened(args.path) as dataset:
        groups, total = dataset.summary((args.by,), span, kinds=kinds)
    if args.json:
        document = {
            "path": args.path,
            "by": args.by,
            "since": span.since,
            "until": span.until,
            "groups": [{args.by: g.key[0], **g.as_dict()} for g in groups],
            "total": None if total is None else total.as_dict(),
        }
        fmt.dump_json(document)
        return 0
    if not groups:
        fmt.echo(f"no calls in {fmt.escaped(args.path)} between {span}")
        return 0
    fmt.echo(render(args.by, groups, total if len(groups) > 1 else None))
    return 0


def render(by: str, groups: list[GroupStats], total: GroupStats | None) -> str:
    """The figures as a table, with a total row when there are several groups."""
    repaired = shows_repaired(groups)
    rows = [group_row(g.key[0], g, repaired=repaired) for g in groups]
    if total is not None:
        rows.append(group_row("(all)", total, repaired=repaired))
    return fmt.table((by, *header(repaired=repaired)), rows)


def shows_repaired(groups: list[GroupStats]) -> bool:
    """Whether a table of ``groups`` has the ``repaired`` column: some attempt was repaired."""
    return any(g.repaired for g in groups)


def header(*, repaired: bool) -> tuple[str, ...]:
    """`HEADER`, with ``repaired`` after ``retries`` when asked."""
    if not repaired:
        return HEADER
    return (*HEADER[:_AFTER], _REPAIRED, *HEADER[_AFTER:])


def group_row(label: str, g: GroupStats, *, repaired: bool = False) -> list[str]:
    """One table row: ``label``, then the figures of ``g`` in the order of `header`."""
    cells = [
        label,
        fmt.count(g.calls),
        fmt.percent(g.error_rate),
        fmt.percent(g.schema_failure_rate),
        "-" if g.mean_retries is None else f"{g.mean_retries:.2f}",
        fmt.count(g.limit_hits),
        fmt.duration(g.p50_ms),
        fmt.duration(g.p95_ms),
        fmt.duration(g.p99_ms),
        fmt.tokens(g.input_tokens),
        fmt.tokens(g.output_tokens),
        fmt.money(g.cost_usd),
        "-" if g.feedback_mean is None else f"{g.feedback_mean:.2f} ({g.feedback_count})",
    ]
    if repaired:
        cells.insert(_AFTER + 1, fmt.count(g.repaired))
    return cells
