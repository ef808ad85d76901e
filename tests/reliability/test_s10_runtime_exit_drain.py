"""A sink shuts delivery down from its ``emit`` and the program exits right after: the
records waiting for that sink are written at exit (within ``exit_timeout``), not lost
with the sink's thread."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests._helpers.reliability import run_child

CHILD = """
import threading, time
import llmguard as lg

class Slow:
    name = "slow"
    def __init__(self):
        self.file = open("out.txt", "a")
        self.entered, self.go, self.shut = threading.Event(), threading.Event(), threading.Event()
        self.first = True
    def emit(self, batch):
        for record in batch:
            self.file.write(record.name + "\\n")
        self.file.flush()
        if self.first:
            self.first = False
            self.entered.set()
            self.go.wait(10)
            lg.shutdown(timeout=10)
            self.shut.set()
        else:
            time.sleep(0.15)  # the records waiting for it take a while
    def flush(self, timeout=None):
        pass
    def close(self):
        self.file.write("closed\\n")
        self.file.close()

sink = Slow()
lg.configure(sinks=[sink], batch_size=1, exit_timeout=10)
with lg.span("one"):
    pass
lg.flush(timeout=0.1)
assert sink.entered.wait(10)
for name in ("two", "three"):
    with lg.span(name):
        pass
sink.go.set()
assert sink.shut.wait(10)  # the exit comes after the inner shutdown
"""


def test_a_sink_draining_after_an_inner_shutdown_is_waited_for_at_exit(tmp_path: Path) -> None:
    """The lane delivering what waited for its sink after an inner shutdown is a
    daemon thread: the exit did not wait for it, and the records went with it."""
    child = run_child(CHILD, tmp_path)
    try:
        _, err = child.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # pragma: no cover - the failure itself
        child.kill()
        child.communicate()
        raise
    assert child.returncode == 0, err.decode()
    lines = (tmp_path / "out.txt").read_text().splitlines()
    assert lines == ["one", "two", "three", "closed"]
