"""Sinks that misbehave, child processes, and small measuring tools for the suite."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import llmguard as lg

ROOT = Path(__file__).resolve().parents[2]


class RaisingSink:
    """A sink whose every call fails."""

    def __init__(self) -> None:
        self.calls = 0

    def emit(self, batch: Sequence[lg.Record]) -> None:
        self.calls += 1
        raise OSError("disk on fire")

    def flush(self, timeout: float | None = None) -> None:
        raise OSError("still on fire")

    def close(self) -> None:
        pass


class BlockingSink:
    """A sink whose emit blocks until released: a hung network call."""

    name = "blocking"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    def emit(self, batch: Sequence[lg.Record]) -> None:
        self.entered.set()
        self.release.wait()

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self) -> None:
        self.release.set()


class HangingFlushSink:
    """A sink that takes batches at once but whose flush blocks until released."""

    name = "hanging-flush"

    def __init__(self) -> None:
        self.records: list[lg.Record] = []
        self.release = threading.Event()

    def emit(self, batch: Sequence[lg.Record]) -> None:
        self.records.extend(batch)

    def flush(self, timeout: float | None = None) -> None:
        self.release.wait()

    def close(self) -> None:
        self.release.set()


class SlowSink:
    """A sink that takes ``delay`` seconds over every batch, then keeps it."""

    name = "slow"

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.records: list[lg.Record] = []

    def emit(self, batch: Sequence[lg.Record]) -> None:
        time.sleep(self.delay)
        self.records.extend(batch)

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self) -> None:
        pass


@lg.trace
def answer(x: int) -> int:
    """The traced call most tests make."""
    return x * 2


def unmeasured_env(**extra: str) -> dict[str, str]:
    """This process's environment without what starts coverage in a child: for a child
    whose output or loaded modules a test reads exactly (coverage imports modules of
    its own, and reports on stderr when it cannot save its data)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_PROCESS_")}
    env.update(extra)
    return env


def run_child(code: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    """Start ``python -c code`` in ``tmp_path`` with this checkout's llmguard importable."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("LLMGUARD_SINK", None)
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def fork(child: Callable[[], None]) -> int:
    """Run ``child`` in a forked process; its exit code (1 if it raised)."""
    # Python 3.12+ warns about fork() in a process with threads; llmguard's own
    # at-fork handlers are what these tests are about.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            child()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def rss_bytes() -> int:
    """The process's resident set size now (Linux), or its peak elsewhere."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextlib.contextmanager
def released(*sinks: BlockingSink | HangingFlushSink) -> Iterator[None]:
    """Release the blocked sinks when the block ends, whatever happens in it."""
    try:
        yield
    finally:
        for sink in sinks:
            sink.release.set()


def figure(text: str) -> None:
    """Print a measured figure; ``pytest -s tests/reliability`` shows them for the docs."""
    print(f"[figure] {text}")


def cpu_seconds(fn: Callable[[], object]) -> float:
    """CPU time of this thread running ``fn``: the caller's own work, whatever the load."""
    started = time.thread_time()
    fn()
    return time.thread_time() - started


def soup(head: list[str], unit: list[str], size: int) -> str:
    """``head`` joined, then ``unit`` joined and repeated to reach at least ``size``."""
    text, piece = "".join(head), "".join(unit)
    return text + piece * ((size - len(text)) // len(piece) + 1)


def soup_times(head: list[str], unit: list[str], schema: Any, size: int) -> tuple[float, float]:
    """CPU seconds `extract` takes on a `soup` of ``size`` and of four times it (the
    fastest of three reads each), for the tests that extraction time grows linearly."""
    from llmguard._guard.schema import extract

    def fastest(text: str) -> float:
        return min(cpu_seconds(lambda: extract(text, schema)) for _ in range(3))

    return fastest(soup(head, unit, size)), fastest(soup(head, unit, 4 * size))
