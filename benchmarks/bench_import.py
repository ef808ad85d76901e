"""How long ``import llmguard`` takes, as ``python -X importtime`` reports it.

Run: ``python benchmarks/bench_import.py [--runs N] [--first-use]``. Each run is a fresh
interpreter (``python -X importtime -c "import llmguard"``, the same interpreter and
environment as this script); the figure is the cumulative time of the ``llmguard`` line --
llmguard and everything it imports, the interpreter's own start-up excluded. Target: at
most 150 ms. Run ``python -m compileall -q src/llmguard`` first where bytecode is not
written (``PYTHONDONTWRITEBYTECODE``), or every run compiles llmguard's sources.

``import llmguard`` leaves the guard, agents, pricing and the rest, and wrapt, to their
first use. ``--first-use`` shows what that first use costs: in fresh interpreters, the
time (``time.perf_counter``) of the import, then of the first ``@lg.trace`` or
``@lg.guard(schema=Model)`` decoration. For the guard, pydantic and the model are
imported before the clock starts, as an application that defines a model has done.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

TARGET_MS = 150.0


def parse_cumulative_us(report: str, package: str = "llmguard") -> int:
    """The cumulative µs of ``package``'s top-level line in a ``-X importtime`` report.

    Lines read ``import time: <self> | <cumulative> | <indented name>``.

    Raises:
        ValueError: No line for ``package``.
    """
    for line in report.splitlines():
        if not line.startswith("import time:"):
            continue
        fields = line[len("import time:") :].split("|")
        if len(fields) == 3 and fields[2].strip() == package:
            try:
                return int(fields[1])
            except ValueError:  # the header line
                continue
    raise ValueError(f"no import line for {package!r}")


def import_ms(runs: int = 7) -> list[float]:
    """Milliseconds to ``import llmguard``, once per fresh interpreter."""
    times = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import llmguard"],
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(parse_cumulative_us(done.stderr) / 1000)
    return times


#: Per first use: what the application has done before (not timed), then the decoration
#: timed after ``import llmguard as lg``.
FIRST_USES = {
    "@lg.trace": ("", "@lg.trace\ndef answer(question):\n    return question\n"),
    "@lg.guard(schema=Model)": (
        "import pydantic\nclass Model(pydantic.BaseModel):\n    city: str\n",
        "@lg.guard(schema=Model)\ndef answer(messages):\n    return messages\n",
    ),
}

_FIRST_USE = """\
import json, time
{setup}
started = time.perf_counter()
import llmguard as lg
imported = time.perf_counter()
{decoration}
decorated = time.perf_counter()
print(json.dumps([imported - started, decorated - imported]))
"""


def first_use_ms(setup: str, decoration: str, runs: int = 7) -> list[tuple[float, float]]:
    """Milliseconds of ``import llmguard`` and then of ``decoration``, per fresh interpreter.

    ``setup`` runs first, untimed: what the application imported before llmguard.
    """
    pairs = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", _FIRST_USE.format(setup=setup, decoration=decoration)],
            capture_output=True,
            text=True,
            check=True,
        )
        imported, decorated = json.loads(done.stdout)
        pairs.append((imported * 1000, decorated * 1000))
    return pairs


def _spread(times: list[float]) -> str:
    return f"{statistics.median(times):.0f} ms median ({min(times):.0f}-{max(times):.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--first-use", action="store_true", help="also time first decorations")
    args = parser.parse_args()
    times = import_ms(args.runs)
    median = statistics.median(times)
    verdict = "yes" if median <= TARGET_MS else "NO"
    print(
        f"import llmguard: {median:.0f} ms median ({min(times):.0f}-{max(times):.0f} ms over "
        f"{len(times)} runs); target <= {TARGET_MS:.0f} ms: {verdict}"
    )
    if args.first_use:
        for label, (setup, decoration) in FIRST_USES.items():
            pairs = first_use_ms(setup, decoration, args.runs)
            imports = [imported for imported, _ in pairs]
            firsts = [decorated for _, decorated in pairs]
            totals = [imported + decorated for imported, decorated in pairs]
            print(
                f"{label}: import {_spread(imports)}, then the first decoration "
                f"{_spread(firsts)}; together {_spread(totals)}"
            )


if __name__ == "__main__":
    main()
