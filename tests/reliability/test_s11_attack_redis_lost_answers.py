"""A Redis whose answers go missing or come back as garbage, between the store and the server.

redis-py sends a command again when its connection drops or times out before the answer
arrives (the store asks for one immediate retry, and a user's own client may ask for more).
The server has then already run the script once: the shared budget must still count the
call once. An answer that is not what the scripts return must never reach the call either.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import llmguard as lg
from llmguard._spend.rate_limits import rate_limit
from llmguard.exceptions import BudgetUnavailable, ConfigurationError
from llmguard.stores import BudgetSnapshot, RedisBudgetStore
from tests._helpers.redis_server import RedisServer, redis_server_or_skip


class Proxy:
    """A TCP relay in front of redis-server that can lose or replace one answer.

    ``cut(marker)`` arms it: the answer to the next request holding ``marker`` is read
    from the server and then thrown away with the client's connection, as when a
    connection drops after the server ran the command. ``garble(marker, reply)``
    answers every request holding ``marker`` with ``reply`` instead of the server's.
    """

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.cut_marker: bytes | None = None
        self.garble_marker: bytes | None = None
        self.garble_reply = b""
        self.cuts = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def cut(self, marker: bytes) -> None:
        with self.lock:
            self.cut_marker = marker

    def garble(self, marker: bytes, reply: bytes) -> None:
        with self.lock:
            self.garble_marker, self.garble_reply = marker, reply

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            state = {"cut_next": False}
            threading.Thread(
                target=self._requests, args=(client, server, state), daemon=True
            ).start()
            threading.Thread(
                target=self._answers, args=(client, server, state), daemon=True
            ).start()

    def _requests(
        self, client: socket.socket, server: socket.socket, state: dict[str, bool]
    ) -> None:
        try:
            while data := client.recv(65536):
                with self.lock:
                    if self.garble_marker is not None and self.garble_marker in data:
                        client.sendall(self.garble_reply)
                        continue
                    if self.cut_marker is not None and self.cut_marker in data:
                        self.cut_marker = None
                        state["cut_next"] = True
                server.sendall(data)
        except OSError:
            pass
        finally:
            _close(client, server)

    def _answers(
        self, client: socket.socket, server: socket.socket, state: dict[str, bool]
    ) -> None:
        try:
            while data := server.recv(65536):
                if state["cut_next"]:
                    with self.lock:
                        self.cuts += 1
                    return  # the server ran it; the client never hears so
                client.sendall(data)
        except OSError:
            pass
        finally:
            _close(client, server)


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own."""
    yield from redis_server_or_skip(tmp_path)


@pytest.fixture
def proxy(server: RedisServer) -> Iterator[Proxy]:
    """A relay in front of the server."""
    relay = Proxy(server.port)
    yield relay
    relay.close()


def _sha(script: object) -> bytes:
    sha: str = script.sha  # type: ignore[attr-defined]
    return sha.encode()


def test_a_reconcile_whose_answer_is_lost_is_charged_once(
    server: RedisServer, proxy: Proxy
) -> None:
    """The connection drops after the server ran the reconcile: the retry charges nothing."""
    store = RedisBudgetStore(proxy.url, key="lost")
    truth = RedisBudgetStore(server.url, key="lost")
    with lg.budget(max_tokens=10_000, store=store):
        lg.types.reserve(100).release()  # loads the scripts, so the next EVALSHA runs them
        held = lg.types.reserve(500)
        proxy.cut(_sha(store._settle))
        held.reconcile(400)
    assert proxy.cuts == 1
    assert truth.snapshot() == BudgetSnapshot(used=400, calls=1, unpriced_calls=1)


def test_a_reservation_whose_answer_is_lost_is_held_once(server: RedisServer, proxy: Proxy) -> None:
    """The answer to a reservation is lost: the retry is granted, not refused by its own hold."""
    store = RedisBudgetStore(proxy.url, key="lost")
    truth = RedisBudgetStore(server.url, key="lost")
    with lg.budget(max_tokens=1_000, store=store):
        lg.types.reserve(100).release()
        proxy.cut(_sha(store._reserve))
        held = lg.types.reserve(600)
        assert proxy.cuts == 1
        assert truth.snapshot().reserved == 600
        held.reconcile(550)
    assert truth.snapshot() == BudgetSnapshot(used=550, calls=1, unpriced_calls=1)


def test_a_rate_limit_take_whose_answer_is_lost_takes_once(
    server: RedisServer, proxy: Proxy
) -> None:
    """The connection drops after the server took from the bucket: the retry takes nothing."""
    limit = rate_limit(
        tokens_per_minute=1_000, store=RedisBudgetStore(proxy.url, key="rl"), wait=False
    )
    truth = RedisBudgetStore(server.url, key="rl")
    limit.acquire(tokens=1).cancel()  # loads the script
    proxy.cut(_sha(truth._take))
    limit.acquire(tokens=600)
    assert proxy.cuts == 1
    used = truth.take(0, 0, tokens_per_minute=1_000, requests_per_minute=None).used_tokens
    assert used == pytest.approx(600, abs=5)


@pytest.mark.parametrize(
    "reply",
    [b"+OK\r\n", b":7\r\n", b"*2\r\n$2\r\nok\r\n$0\r\n\r\n", b"*8\r\n" + b"$1\r\nx\r\n" * 8],
    ids=["status", "integer", "short-array", "not-numbers"],
)
def test_a_garbled_answer_is_unavailable_not_a_crash(
    server: RedisServer, proxy: Proxy, reply: bytes
) -> None:
    """An answer the scripts never give is the store failing: BudgetUnavailable, or open."""
    closed = RedisBudgetStore(proxy.url, key="garbled")
    opened = RedisBudgetStore(proxy.url, key="garbled", on_unavailable="open")
    with lg.budget(max_tokens=1_000, store=closed):
        lg.types.reserve(1).release()
    proxy.garble(b"EVALSHA", reply)
    with lg.budget(max_tokens=1_000, store=closed), pytest.raises(BudgetUnavailable) as caught:
        lg.types.reserve(10)
    assert caught.value.key == "garbled"
    with pytest.raises(BudgetUnavailable):
        closed.snapshot()
    with lg.budget(max_tokens=1_000, store=opened):
        lg.types.reserve(10).reconcile(10)  # let through, unchecked, and reported
    with pytest.raises(BudgetUnavailable):
        rate_limit(tokens_per_minute=1_000, store=closed, wait=False).acquire(tokens=1)
    rate_limit(tokens_per_minute=1_000, store=opened, wait=False).acquire(tokens=1)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"lease_seconds": 1e300, "window": "day"}, "lease_seconds"),
        ({"lease_seconds": 0.0004}, "lease_seconds"),
        ({"lease_seconds": float("inf")}, "lease_seconds"),
        ({"timeout": 1e300}, "timeout"),
        ({"timeout": -1}, "timeout"),
    ],
)
def test_options_redis_or_sockets_cannot_use_are_refused_at_construction(
    options: dict[str, Any], named: str
) -> None:
    """A lease Redis cannot expire, one under a millisecond, a timeout sockets overflow."""
    with pytest.raises(ConfigurationError, match=named):
        RedisBudgetStore("redis://127.0.0.1:1/0", key="k", **options)


def test_the_longest_lease_and_timeout_work(server: RedisServer) -> None:
    """At the bounds, reservations are held, expire and are charged as usual."""
    store = RedisBudgetStore(
        server.url, key="long", window="month", lease_seconds=366 * 86_400, timeout=86_400
    )
    with lg.budget(max_tokens=100, store=store):
        lg.types.reserve(60).reconcile(50)
    assert store.snapshot() == BudgetSnapshot(used=50, calls=1, unpriced_calls=1)


@pytest.mark.parametrize("client", ["redis://localhost", 6379, object()])
def test_a_client_that_is_not_one_is_refused_at_construction(client: object) -> None:
    """Anything but a redis-py client is a ConfigurationError, not an AttributeError."""
    with pytest.raises(ConfigurationError, match=r"client must be a redis\.Redis client"):
        RedisBudgetStore(client=client, key="k")
