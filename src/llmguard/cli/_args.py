"""What the commands share: their common arguments and how they open a file."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import llmguard.cli._format as fmt
from llmguard.cli._dataset import EARLIEST, IMPOSSIBLE, LATEST, Dataset, Window
from llmguard.cli._progress import TerminalProgress

__all__ = ["Subparsers", "add_path", "add_window", "opened", "window"]

Subparsers = Any  # argparse's _SubParsersAction, which typeshed keeps private


def add_path(parser: argparse.ArgumentParser) -> None:
    """The file to read, first on every command."""
    parser.add_argument(
        "path", metavar="PATH", help="an SQLite store or a JSON Lines file of llmguard records"
    )


def add_window(parser: argparse.ArgumentParser) -> None:
    """``--since`` / ``--until``."""
    parser.add_argument(
        "--since", metavar="T", help="only calls that started at or after T (ISO 8601 date or time)"
    )
    parser.add_argument("--until", metavar="T", help="only calls that started before T")


def window(args: argparse.Namespace) -> Window:
    """The window given by ``--since`` / ``--until``."""
    return Window.parse(args.since, args.until)


@contextlib.contextmanager
def opened(path: str) -> Iterator[Dataset]:
    """Open ``path`` for queries, with progress on a terminal, and close it after.

    What the file held that no query uses is said on stderr, one warning line each: lines
    holding no record, and records whose start time is no time; records whose figures
    no call can have, and rows a command read that held no record, once it is done.
    """
    progress = TerminalProgress()
    try:
        with Dataset.open(path, progress) as dataset:
            warnings = []
            skipped = dataset.skipped_lines
            if skipped:
                lines = ", ".join(map(str, skipped[:5])) + (", ..." if len(skipped) > 5 else "")
                warnings.append(
                    f"skipped {len(skipped)} line(s) holding no record (torn by a hard "
                    f"kill?): line {lines}"
                )
            if dataset.unusable:
                count = dataset.unusable
                example = dataset.unusable_example
                first = "NULL" if example is None else repr(example[:_SHOWN_CHARS])
                warnings.append(
                    f"skipped {count} record{'s' if count != 1 else ''} whose start time is "
                    f"not a time from {EARLIEST[:10]} to {LATEST[:10]} (the first: {first})"
                )
            if warnings:
                progress.clear()
            for warning in warnings:
                fmt.echo(f"llmguard: warning: {fmt.escaped(path)}: {warning}", sys.stderr)
            try:
                yield dataset
            finally:
                # Also when the command fails: its error ("no calls") may come of them.
                if dataset.impossible:
                    # Known once the command's queries have read the records.
                    count = dataset.impossible
                    progress.clear()
                    fmt.echo(
                        f"llmguard: warning: {fmt.escaped(path)}: skipped {count} "
                        f"record{'s' if count != 1 else ''} whose figures no call can have "
                        f"({IMPOSSIBLE}); the first: "
                        f"{(dataset.impossible_example or '')[:_SHOWN_EXAMPLE]}",
                        sys.stderr,
                    )
                if dataset.unreadable_rows:
                    progress.clear()
                    fmt.echo(
                        f"llmguard: warning: {fmt.escaped(path)}: skipped "
                        f"{dataset.unreadable_rows} row(s) holding no record",
                        sys.stderr,
                    )
    finally:
        progress.clear()


# How much of an unusable start time a warning quotes.
_SHOWN_CHARS = 40
# How much of the first impossible figure's description a warning quotes.
_SHOWN_EXAMPLE = 120
