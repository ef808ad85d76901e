"""Hold a fleet of worker processes to one token budget and one rate limit, in Redis.

Four worker processes answer questions through a guarded call. Each builds its own
``RedisBudgetStore`` with the same key, so they share one daily budget and one
requests-per-minute limit: together they never pass the cap, however the calls
interleave. The model is llmguard's scripted ``FakeLLM``, so nothing leaves the
machine but the Redis traffic.

Needs the ``redis`` extra (``pip install 'llmguard[redis]'``) and a Redis server:
``REDIS_URL`` if set, else a throwaway ``redis-server`` started on a free port::

    python examples/shared_budget.py
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import llmguard as lg
from llmguard.exceptions import BudgetExceeded
from llmguard.stores import RedisBudgetStore
from llmguard.testing import FakeLLM

MODEL = "gpt-4o-mini"
KEY = "example-fleet"
DAILY_TOKENS = 500
WORKERS = 4
QUESTIONS = 10


def fleet_budget(url: str) -> lg.Budget:
    """The budget every worker shares: a daily cap, failing closed if Redis is down."""
    store = RedisBudgetStore(url, key=KEY, window="day", on_unavailable="closed")
    return lg.budget(max_tokens=DAILY_TOKENS, name="fleet", store=store)


def worker(url: str, number: int, results: Any) -> None:
    llm = FakeLLM([f"Answer {i} from worker {number}." for i in range(QUESTIONS)], model=MODEL)
    limit = lg.rate_limit(requests_per_minute=1_000, store=RedisBudgetStore(url, key=KEY))

    @lg.guard(model=MODEL, max_output_tokens=60, rate_limit=limit)
    def ask(messages: list[dict[str, Any]], max_tokens: int | None = None) -> Any:
        return llm(model=MODEL, messages=messages, max_tokens=max_tokens)

    answered = refused = used = 0
    with fleet_budget(url):
        for i in range(QUESTIONS):
            try:
                reply = ask([{"role": "user", "content": f"Question {i} for worker {number}?"}])
            except BudgetExceeded:
                refused += 1
                continue
            answered += 1
            used += reply.usage.total_tokens
    results.put((number, answered, refused, used))


@contextmanager
def redis_url() -> Iterator[str]:
    """REDIS_URL, or a throwaway redis-server on a free loopback port."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("set REDIS_URL, or install redis-server (Debian: apt-get install redis-server)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as scratch:
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", scratch]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        try:
            for _ in range(500):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    time.sleep(0.01)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.terminate()
            server.wait()


def main() -> None:
    with redis_url() as url:
        spawn = multiprocessing.get_context("spawn")
        results = spawn.Queue()
        workers = [spawn.Process(target=worker, args=(url, n, results)) for n in range(WORKERS)]
        for process in workers:
            process.start()
        reports = sorted(results.get(timeout=60) for _ in workers)
        for process in workers:
            process.join()
        for number, answered, refused, used in reports:
            print(f"worker {number}: {answered} answered, {refused} refused, {used} tokens")
        fleet = fleet_budget(url)
        print(
            f"fleet: {fleet.used} of {DAILY_TOKENS} tokens used today by {fleet.calls} calls "
            f"({fleet.reserved} still reserved)"
        )
        assert fleet.used == sum(used for *_, used in reports)
        assert fleet.used <= DAILY_TOKENS


if __name__ == "__main__":
    main()
