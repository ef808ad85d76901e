"""Work done by a user who cannot write a test's read-only directories.

Tests run as root here, and root writes through a directory's 0555; so the reading side
runs in a forked child that gives root up for ``nobody``, and reports through a pipe.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

NOBODY = 65534
_CHILD_TIMEOUT_S = 60.0


def unprivileged(work: Callable[[], Any]) -> Any:
    """``work()`` run by a user who cannot write the test's read-only directories: this
    process when it is not root, else a forked child that gave root up. Returns its
    value, or raises what it raised."""
    if os.geteuid() != 0:
        return work()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        code = 0
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            outcome: tuple[bool, Any] = (True, work())
        except BaseException as exc:
            outcome = (False, exc)
        try:
            os.write(write, pickle.dumps(outcome))
        except BaseException:
            code = 1
        os._exit(code)
    os.close(write)
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([read], [], [], _CHILD_TIMEOUT_S)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                pytest.fail("the unprivileged reader hung")
            chunk = os.read(read, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    ok, value = pickle.loads(b"".join(chunks))
    if not ok:
        raise value
    return value


def lock_up(folder: Path) -> None:
    """Make ``folder`` and its files read-only, and skip the test unless that holds for
    the user `unprivileged` runs as."""
    for file in folder.iterdir():
        file.chmod(0o444)
    folder.chmod(0o555)
    if unprivileged(lambda: os.access(folder, os.W_OK)):
        pytest.skip("this user writes read-only directories")
