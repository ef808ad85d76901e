"""What the query commands answer on two stores, to check that a change leaves them alone.

The stores are the example report's (``examples/report_demo.py``) and 600 generated
calls from ``benchmarks/bench_cli.py`` (in SQLite and in JSON Lines), both seeded, so
any version of llmguard builds the same records. The answers were saved by the
commands as they were before the aggregates moved into SQL (commit 438dc23)::

    PYTHONPATH=<that checkout>/src python -m tests._helpers.cli_answers tests/cli/data/answers.json

and ``tests/cli/test_cli_pushdown.py`` compares today's answers with them. They were
first saved for 3,000 generated calls; 600 run every line and branch of llmguard the
3,000 ran (branch coverage of both, same source, the loader in batches of 1,000), with
groups, errors, retries, limit hits, feedback and sampled calls in each, at a fifth of the cost.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import json
import os
import re
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

from llmguard.cli import main
from llmguard.cli._dataset import Dataset, Window
from llmguard.cli._report import build
from llmguard.sinks import JSONLSink, SQLiteSink

_ROOT = Path(__file__).resolve().parents[2]
GENERATED_CALLS = 600
# The report's footer says when it was made.
_NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
_MADE = re.compile(r"(<footer>Made by llmguard \S+ on )\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")


def report_page(path: Path) -> str:
    """A report's HTML with the minute it was made (in its footer) left out: the same
    report made twice is otherwise the same, but a minute may turn between the two."""
    return _MADE.sub(r"\1(when)", path.read_text(encoding="utf-8"))


_GENERATED_DRIFT = ("--baseline", "2026-01-01..2026-01-16", "--current", "2026-01-16..2026-02-01")
_DEMO_DRIFT = ("--baseline", "2026-02-02..2026-02-10T09:00", "--current", "2026-02-10T09:00..")

COMMANDS: dict[str, tuple[str, ...]] = {
    **{f"stats --by {by}": ("stats", "--by", by) for by in ("name", "model", "prompt", "day")},
    **{
        f"stats --json --by {by}": ("stats", "--json", "--by", by)
        for by in ("name", "model", "prompt", "day", "status")
    },
    "stats window": ("stats", "--by", "prompt", "--since", "2026-01-10", "--until", "2026-02-12"),
    "stats kinds": ("stats", "--json", "--kind", "llm", "--kind", "tool"),
}
DRIFTS: dict[str, tuple[str, ...]] = {
    f"drift --by {by}{' --json' if as_json else ''}": (
        "--by",
        by,
        *(("--json",) if as_json else ()),
        "--min-calls",
        "10",
    )
    for by in ("name", "prompt", "model")
    for as_json in (False, True)
}


def _module(folder: str, name: str) -> ModuleType:
    path = str(_ROOT / folder)
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module(name)


def stores(folder: Path) -> dict[str, Path]:
    """Write the stores into ``folder``: the demo's, and the generated calls twice."""
    demo = folder / "demo.db"
    _module("examples", "report_demo").write_store(demo)
    bench_cli = _module("benchmarks", "bench_cli")
    found = {"demo": demo}
    # The calls are generated once and written to both files, in the batches
    # `bench_cli.build` writes: the same records as two builds, at half the cost.
    calls = list(bench_cli.calls(GENERATED_CALLS, repairs=False))
    for name in ("generated.db", "generated.jsonl"):
        path = folder / name
        sink = JSONLSink(path) if path.suffix == ".jsonl" else SQLiteSink(path)
        for start in range(0, len(calls), bench_cli._BATCH):
            sink.emit(calls[start : start + bench_cli._BATCH])
        sink.close()
        found[name.replace(".", "_")] = path
    return found


@contextlib.contextmanager
def _inside(folder: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def _run(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(argv)
    return f"exit {status}\n{out.getvalue()}"


def answers(folder: Path) -> dict[str, str]:
    """Every command's output on every store written by `stores` into ``folder``."""
    found: dict[str, str] = {}
    with _inside(folder):
        for store, path in stores(folder).items():
            name = path.name
            drift = _DEMO_DRIFT if store == "demo" else _GENERATED_DRIFT
            for label, (command, *options) in COMMANDS.items():
                found[f"{store}: {label}"] = _run([command, name, *options])
            for label, options in DRIFTS.items():
                found[f"{store}: {label}"] = _run(["drift", name, *drift, *options])
            with Dataset.open(name) as dataset:
                for label, span in (
                    ("all", Window()),
                    ("window", Window.parse("2026-01-05", None)),
                ):
                    document, calls = build(dataset, name, span, now=_NOW)
                    digest = hashlib.sha256(document.encode()).hexdigest()
                    found[f"{store}: report {label}"] = f"{calls} {digest}"
    return found


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        result = answers(Path(scratch))
    Path(sys.argv[1]).write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
