"""``llmguard replay``: run a recorded guarded call's input against today's code."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import shutil
import sys
from collections.abc import Callable
from typing import Any

import llmguard.cli._format as fmt
from llmguard.cli._args import Subparsers, add_path, opened
from llmguard.cli._errors import CommandError

__all__ = ["add_parser", "load_callable", "run"]

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1


def add_parser(commands: Subparsers) -> None:
    """Register ``replay``."""
    parser = commands.add_parser(
        "replay",
        help="re-run a recorded guarded call against today's code",
        description=(
            "Run the input recorded in one guarded call's llm record through a function "
            "as the code defines it now -- a real call, which reaches the model -- and "
            "print the recorded outcome and the new one side by side. Exit status: 0 "
            "when the new run succeeded, 1 when it failed, 2 when the call could not be "
            "replayed (a bad --call, a record without a complete input)."
        ),
    )
    add_path(parser)
    parser.add_argument(
        "span_id", metavar="SPAN_ID", help="the span id of the call's llm record (16 hex digits)"
    )
    parser.add_argument(
        "--call",
        required=True,
        metavar="MODULE:FUNCTION",
        help=(
            "the function to run, e.g. app.triage:triage; imported with the current "
            "directory on the module path, as python -m does"
        ),
    )
    parser.add_argument(
        "--allow-redacted",
        action="store_true",
        help="replay a record whose content was redacted, with the redacted text",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of columns")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Replay the call and print both outcomes."""
    from llmguard._core.wrap import CallKind, call_kind
    from llmguard._replay.replay import areplay, check_record, replay
    from llmguard.exceptions import ReplayError

    with opened(args.path) as dataset:
        record = dataset.record(args.span_id.strip().lower())
    try:
        # Checked before the application's module is imported: nothing of it runs
        # for a record that cannot be replayed anyway.
        check_record(record, allow_redacted=args.allow_redacted)
        fn = load_callable(args.call)
        if call_kind(fn) in (CallKind.ASYNC, CallKind.ASYNC_GENERATOR):
            outcome = asyncio.run(areplay(record, fn, allow_redacted=args.allow_redacted))
        else:
            outcome = replay(record, fn, allow_redacted=args.allow_redacted)
    except ReplayError as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        fmt.dump_json(outcome.as_dict())
    else:
        width = min(max(shutil.get_terminal_size((100, 24)).columns, 80), 140)
        fmt.echo(outcome.side_by_side(width))
    return EXIT_SUCCEEDED if outcome.new.ok else EXIT_FAILED


def load_callable(spec: str) -> Callable[..., Any]:
    """Import ``module:attribute`` (the attribute may be dotted) and check it is callable.

    The current directory goes first on ``sys.path`` when it is not there, so that a
    module of the project the command runs in can be named as ``python -m`` would.

    Raises:
        CommandError: The spec is malformed, the module cannot be imported, the
            attribute is missing or is not callable.
    """
    module_name, sep, attribute = spec.partition(":")
    module_name, attribute = module_name.strip(), attribute.strip()
    if not sep or not module_name or not attribute or ":" in attribute:
        raise CommandError(f"--call takes MODULE:FUNCTION, e.g. app.triage:triage, not {spec!r}")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(f"{missing}."):
            raise CommandError(f"no module named {module_name!r} (from {cwd})") from None
        raise CommandError(f"importing {module_name} failed: {_describe(exc)}") from None
    except Exception as exc:
        raise CommandError(f"importing {module_name} failed: {_describe(exc)}") from None
    found: list[str] = []
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            owner = f"{module_name}:{'.'.join(found)}" if found else f"module {module_name}"
            raise CommandError(f"{owner} has no attribute {part!r}") from None
        found.append(part)
    if not callable(target):
        raise CommandError(f"{spec} is not callable (it is a {type(target).__name__})")
    return target  # type: ignore[no-any-return]


def _describe(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
