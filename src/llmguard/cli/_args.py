"""What the commands share: their common arguments and how they open a file."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from llmguard.cli._dataset import Dataset, Window
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
    """Open ``path`` for queries, with progress on a terminal, and close it after."""
    progress = TerminalProgress()
    try:
        with Dataset.open(path, progress) as dataset:
            skipped = dataset.skipped_lines
            if skipped:
                progress.clear()
                lines = ", ".join(map(str, skipped[:5])) + (", ..." if len(skipped) > 5 else "")
                sys.stderr.write(
                    f"llmguard: warning: {path}: skipped {len(skipped)} line(s) holding no "
                    f"record (torn by a hard kill?): line {lines}\n"
                )
            yield dataset
    finally:
        progress.clear()
