"""Two pipelines at once: one replaced by ``configure()`` while its sink is stuck in a
batch, and the one that follows, shut down by the program before the first's sink
comes back. Every record reaches its sink, each sink is closed once, and the exit
waits for the retiring pipeline (within ``exit_timeout``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests._helpers.reliability import run_child

CHILD = """
import threading
import llmguard as lg

class Stuck:
    def __init__(self, label, stuck):
        self.label = label
        self.entered, self.go = threading.Event(), threading.Event()
        self.stuck = stuck
    def emit(self, batch):
        with open("out.txt", "a") as out:
            for record in batch:
                out.write(f"{self.label} {record.name}\\n")
        if self.stuck:
            self.stuck = False
            self.entered.set()
            self.go.wait(20)
    def flush(self, timeout=None):
        pass
    def close(self):
        with open("out.txt", "a") as out:
            out.write(f"{self.label} closed\\n")

first, second = Stuck("A", True), Stuck("B", False)
lg.configure(sinks=[first], batch_size=1, exit_timeout=10)
with lg.span("a1"):
    pass
lg.flush(timeout=0.05)
assert first.entered.wait(10)
for name in ("a2", "a3"):
    with lg.span(name):
        pass
lg.configure(sinks=[second])  # the first pipeline retires in the background
with lg.span("b1"):
    pass
ORDER
"""

ORDERS = {
    # the program shuts the second down, then the first's sink comes back at exit
    "shutdown-then-release": "lg.shutdown(timeout=5)\nfirst.go.set()",
    # the first's sink comes back while the program flushes the second
    "release-then-flush": "first.go.set()\nassert lg.flush(timeout=10).complete",
    # nothing more: the exit finds the first still stuck and lets it go on
    "release-at-exit": "threading.Timer(0.05, first.go.set).start()",
}


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_both_pipelines_deliver_and_close_once(tmp_path: Path, order: str) -> None:
    """A's three records and B's one are written, and each sink is closed once."""
    child = run_child(CHILD.replace("ORDER", ORDERS[order]), tmp_path)
    try:
        _, err = child.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # pragma: no cover - the failure itself
        child.kill()
        child.communicate()
        raise
    assert child.returncode == 0, err.decode()
    lines = (tmp_path / "out.txt").read_text().splitlines()
    assert sorted(line for line in lines if line.startswith("A")) == [
        "A a1",
        "A a2",
        "A a3",
        "A closed",
    ]
    assert sorted(line for line in lines if line.startswith("B")) == ["B b1", "B closed"]
    assert lines.index("A closed") > lines.index("A a3")
    assert "lost" not in err.decode()
    assert "not delivered" not in err.decode()
