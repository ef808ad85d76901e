"""``llmguard prices``: what a model costs and where the figure came from; newer data.

``llmguard prices show MODEL [--at T]`` prints a model's prices per million tokens, the
tiers above some input size, and the source (the database, its version and the entry
it matched). ``llmguard prices update`` fetches the price database's newest data and
caches it for every later process (the only command that reaches the network).
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone

import llmguard.cli._format as fmt
from llmguard import pricing
from llmguard.cli._args import Subparsers
from llmguard.cli._errors import CommandError
from llmguard.exceptions import ConfigurationError

__all__ = ["add_parser", "render", "run_show", "run_update"]


def add_parser(commands: Subparsers) -> None:
    """Register ``prices show`` and ``prices update``."""
    parser = commands.add_parser(
        "prices",
        help="what a model costs, and newer prices",
        description="Model prices from the genai-prices database, as llmguard uses them.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser(
        "show",
        help="a model's prices and where they came from",
        description="Print a model's prices in US dollars per million tokens, the tiers "
        "for larger inputs, and the source of the figures.",
    )
    show.add_argument(
        "model",
        metavar="MODEL",
        help="the model's name, as the provider or router reports it (gpt-4o, "
        "azure/gpt-4o, bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0, ...)",
    )
    show.add_argument(
        "--at", metavar="T", help="the prices in force at T (ISO 8601 date or time); now by default"
    )
    show.set_defaults(run=run_show)
    update = actions.add_parser(
        "update",
        help="fetch the newest prices and cache them",
        description="Fetch genai-prices' newest published data, check it and cache it; "
        "every later llmguard process prices with it. Needs network access.",
    )
    update.add_argument(
        "--url", type=_url, default=pricing.DEFAULT_UPDATE_URL, help="where to fetch the data from"
    )
    update.add_argument(
        "--timeout", type=_seconds, default=30.0, metavar="S", help="seconds to wait (default 30)"
    )
    update.add_argument(
        "--file",
        metavar="PATH",
        help="where to cache it (default: $LLMGUARD_PRICES_FILE, else "
        "~/.cache/llmguard/genai-prices.json)",
    )
    update.set_defaults(run=run_update)


def _seconds(text: str) -> float:
    """A timeout as typed: a finite number of seconds above 0, as `pricing.update` takes."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    try:
        pricing._check_timeout(value)
    except ConfigurationError:
        message = f"must be a number of seconds above 0, not {text}"
        raise argparse.ArgumentTypeError(message) from None
    return value


def _url(text: str) -> str:
    """A URL `pricing.update` can fetch from; whether it answers is found out later."""
    try:
        pricing._check_url(text)
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def run_show(args: argparse.Namespace) -> int:
    """Print the model's prices."""
    model: str = args.model
    at: str | None = args.at
    try:
        found = pricing.price(model, at=at)
    except ConfigurationError as exc:
        raise CommandError(f"--at: {exc}") from None
    if found is None:
        raise CommandError(
            f"no price for {model!r} in {pricing.table_version()}: set one with "
            "llmguard.pricing.set_price(...) or configure(prices=...)"
        )
    when = at or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC (now)")
    fmt.echo(render(model, found, when))
    return 0


def render(model: str, found: pricing.Price, when: str) -> str:
    """The text `run_show` prints."""
    header = ["input tokens", "input", "output", "cached input", "cache write"]
    if found.reasoning is not None or any(t.reasoning is not None for t in found.tiers):
        header.append("reasoning")

    def row(label: str, rates: pricing.Price | pricing.Tier) -> list[str]:
        cells = [
            label,
            _per_million(rates.input),
            _per_million(rates.output),
            _per_million(rates.cached_input, "as input"),
            _per_million(rates.cache_write, "as input"),
        ]
        if len(header) > 5:
            cells.append(_per_million(rates.reasoning, "as output"))
        return cells

    first = "all" if not found.tiers else f"up to {found.tiers[0].above:,}"
    rows = [row(first, found)]
    rows += [row(f"over {tier.above:,}", tier) for tier in found.tiers]
    return "\n".join(
        [
            f"{model}: US dollars per million tokens, at {when}",
            "",
            fmt.table(header, rows),
            "",
            f"source: {found.source}",
        ]
    )


def _per_million(value: float | None, otherwise: str = "-") -> str:
    if value is None:
        return otherwise
    digits = f"{value:,.6f}".rstrip("0")
    decimals = len(digits.partition(".")[2])
    return f"${value:,.{max(decimals, 2)}f}"


def run_update(args: argparse.Namespace) -> int:
    """Fetch, check and cache the newest prices."""
    try:
        version = pricing.update(url=args.url, timeout=args.timeout, path=args.file)
    except pricing.PriceUpdateError as exc:
        raise CommandError(str(exc)) from None
    where = args.file or pricing.data_file()
    fmt.echo(f"prices updated: {version}\ncached in {where}")
    return 0
