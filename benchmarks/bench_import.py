"""How long ``import llmguard`` takes, as ``python -X importtime`` reports it.

Run: ``python benchmarks/bench_import.py [--runs N]``. Each run is a fresh interpreter
(``python -X importtime -c "import llmguard"``, the same interpreter and environment as
this script); the figure is the cumulative time of the ``llmguard`` line -- llmguard and
everything it imports, the interpreter's own start-up excluded. Target: at most 150 ms.
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    times = import_ms(parser.parse_args().runs)
    median = statistics.median(times)
    verdict = "yes" if median <= TARGET_MS else "NO"
    print(
        f"import llmguard: {median:.0f} ms median ({min(times):.0f}-{max(times):.0f} ms over "
        f"{len(times)} runs); target <= {TARGET_MS:.0f} ms: {verdict}"
    )


if __name__ == "__main__":
    main()
