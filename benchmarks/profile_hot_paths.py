"""Profile the hot paths behind the targets that are not met, with pyinstrument.

    python benchmarks/profile_hot_paths.py {guard,guard-trivial,sqlite} [--calls N]

* ``guard``: ``@lg.guard(schema=Ticket)`` around a function that returns a ready
  ``ChatCompletion`` (the one bench_guard.py's mock transport answers with), no sink:
  llmguard's own work on a call, without the SDK's;
* ``guard-trivial``: ``@lg.guard`` without a schema on ``x + 1``, no sink;
* ``sqlite``: ``SQLiteSink.emit`` of fresh records in batches, as bench_sinks.py does.

Prints pyinstrument's call tree (percent of the total). pyinstrument hooks every call,
so functions that are small and called often look bigger than they are: read the tree
for ranking, and time a suspect directly before trusting its share. Needs
``pip install pyinstrument``.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

import llmguard as lg


def guard_call() -> Callable[[], object]:
    import bench_guard

    client = bench_guard.mocked_client(bench_guard.CONTENT_BODY)
    ready = client.chat.completions.create(
        model=bench_guard.MODEL, messages=bench_guard.fresh_messages()
    )

    def classify(messages: list[object]) -> object:
        return ready

    guarded = lg.guard(schema=bench_guard.Ticket)(classify)
    return lambda: guarded(bench_guard.fresh_messages())


def trivial_guard_call() -> Callable[[], object]:
    def work(x: int) -> int:
        return x + 1

    guarded = lg.guard(work)
    return lambda: guarded(1)


def sqlite_batches(calls: int, folder: Path) -> Callable[[], object]:
    import bench_sinks

    from llmguard.sinks import SQLiteSink

    records = bench_sinks.make_records(calls)
    sink = SQLiteSink(folder / "profile.db")
    sink.emit(records[:1])  # schema and connection outside the profile
    chunks = iter(bench_sinks.batches(records[1:]))
    return lambda: sink.emit(next(chunks))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("path", choices=("guard", "guard-trivial", "sqlite"))
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    from pyinstrument import Profiler

    lg.configure(sinks=[])
    with tempfile.TemporaryDirectory() as folder:
        if args.path == "sqlite":
            step = sqlite_batches(args.calls, Path(folder))
            steps = (args.calls - 1 + 511) // 512
        else:
            step = guard_call() if args.path == "guard" else trivial_guard_call()
            steps = args.calls
            for _ in range(500):
                step()
        profiler = Profiler(interval=0.001)
        profiler.start()
        for _ in range(steps):
            step()
        profiler.stop()
    print(profiler.output_text(unicode=False, color=False, time="percent_of_total"))


if __name__ == "__main__":
    main()
