"""The ``llmguard`` command: questions about the records in a store or a JSON Lines file.

``llmguard stats``, ``show``, ``drift``, ``report`` and ``replay``, and ``prices``
(what a model costs; newer prices); run ``llmguard --help``. Every command reading
records reads through one query layer (`llmguard.cli._dataset`), so an SQLite store
and a JSON Lines file answer alike. Exit status: 0 on success, 1 when
``drift`` found a change, 2 when the command could not do what was asked (one line on
stderr says why).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

import llmguard.cli._format as fmt
from llmguard._version import __version__
from llmguard.cli._errors import EXIT_DRIFT as EXIT_DRIFT
from llmguard.cli._errors import EXIT_ERROR as EXIT_ERROR
from llmguard.cli._errors import EXIT_OK as EXIT_OK
from llmguard.cli._errors import CommandError

__all__ = ["CommandError", "main"]


class _Parser(argparse.ArgumentParser):
    """Reports usage errors in one line instead of argparse's usage block."""

    def error(self, message: str) -> NoReturn:
        fmt.echo(f"{self.prog}: error: {fmt.escaped(message)} (see {self.prog} --help)", sys.stderr)
        raise SystemExit(EXIT_ERROR)


def _parser() -> argparse.ArgumentParser:
    from llmguard.cli import _drift, _prices, _replay, _report, _show, _stats

    parser = _Parser(
        prog="llmguard",
        description="Read llmguard trace records from an SQLite store or a JSON Lines file.",
    )
    parser.add_argument("--version", action="version", version=f"llmguard {__version__}")
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="show the full traceback of an unexpected error",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (_stats, _show, _drift, _report, _replay, _prices):
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Args:
        argv: The arguments after the program name; ``sys.argv[1:]`` by default.
    """
    from llmguard.cli._dataset import DatasetError

    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except (CommandError, DatasetError) as exc:
        # One line by contract; a newline in a name it quotes is shown escaped.
        _fail(str(exc).strip() or type(exc).__name__)
    except KeyboardInterrupt:
        fmt.echo("", sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (head, less) went away; nothing left to say.
        return EXIT_OK
    except Exception as exc:
        if _interrupted(exc):
            fmt.echo("", sys.stderr)
            return 130
        if args.traceback:
            raise
        _fail(f"unexpected {type(exc).__name__}: {_first_line(exc)} (rerun with --traceback)")
    return EXIT_ERROR


def _interrupted(exc: Exception) -> bool:
    """Whether ``exc`` is Ctrl-C that reached Python inside SQLite's progress handler,
    which sqlite3 turns into an error ending the query: "interrupted"."""
    import sqlite3

    return isinstance(exc, sqlite3.OperationalError) and str(exc) == "interrupted"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _fail(message: str) -> None:
    fmt.echo(f"llmguard: error: {fmt.escaped(message)}", sys.stderr)
