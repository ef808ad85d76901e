"""lg.pricing.update: newer data fetched only when asked, checked, cached, used.

The network is replaced by an ``httpx2.MockTransport``; nothing here reaches it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

import llmguard as lg
from llmguard import pricing
from tests._helpers.prices import NEWER


@pytest.fixture(autouse=True)
def cache_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Each test caches in its own file, and ends back on the bundled data."""
    path = tmp_path / "cache" / "genai-prices.json"
    monkeypatch.setenv("LLMGUARD_PRICES_FILE", str(path))
    pricing.reload()
    yield path
    monkeypatch.delenv("LLMGUARD_PRICES_FILE")
    path.unlink(missing_ok=True)
    pricing.reload()


def serving(body: Any, status: int = 200) -> tuple[httpx2.MockTransport, list[str]]:
    asked: list[str] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        asked.append(str(request.url))
        if isinstance(body, BaseException):
            raise body
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx2.Response(status, content=content)

    return httpx2.MockTransport(answer), asked


def test_update_fetches_checks_caches_and_uses_the_newer_data(cache_file: Path) -> None:
    """After update(), prices come from the fetched data, named by its fetch time."""
    assert pricing.price("gpt-4o") == pricing.Price(2.5, 10.0, 1.25)
    transport, asked = serving(NEWER)
    version = pricing.update(transport=transport)
    assert asked == [pricing.DEFAULT_UPDATE_URL]
    assert version.startswith("genai-prices data fetched ")
    assert pricing.table_version() == version
    assert pricing.price("gpt-4o") == pricing.Price(2.0, 8.0, 0.5)
    assert pricing.source("gpt-4o") == f"{version}: openai/gpt-4o"
    assert pricing.price("gpt-9-mini", at="2026-12-31") == pricing.Price(1.0, 2.0)
    assert pricing.price("gpt-9-mini", at="2027-01-01") == pricing.Price(3.0, 6.0)
    cached = json.loads(cache_file.read_text())
    assert cached["version"] == version
    assert cached["providers"] == NEWER


def test_a_new_process_finds_the_cached_data(cache_file: Path) -> None:
    """reload() (what a new process does at its first priced call) reads the cache."""
    transport, _ = serving(NEWER)
    version = pricing.update(transport=transport)
    pricing.reload()
    assert pricing.table_version() == version
    assert pricing.price("gpt-4o") == pricing.Price(2.0, 8.0, 0.5)
    cache_file.unlink()
    pricing.reload()
    assert pricing.table_version() == pricing.VERSION


def test_offline_update_is_a_clear_error_and_changes_nothing(cache_file: Path) -> None:
    """No network: PriceUpdateError says so; the prices in use and the cache stay."""
    transport, _ = serving(httpx2.ConnectError("[Errno -3] Temporary failure in name resolution"))
    before = pricing.price("gpt-4o")
    with pytest.raises(pricing.PriceUpdateError) as failed:
        pricing.update(transport=transport)
    message = str(failed.value)
    assert "could not fetch price data" in message
    assert "ConnectError" in message
    assert "unchanged" in message
    assert isinstance(failed.value, lg.LLMGuardError)
    assert pricing.price("gpt-4o") == before
    assert pricing.table_version() == pricing.VERSION
    assert not cache_file.exists()


@pytest.mark.parametrize(
    ("body", "status", "said"),
    [
        (b"<html>rate limited</html>", 429, "429"),
        (b"not json at all", 200, "did not send price data"),
        ({"providers": "nope"}, 200, "did not send price data"),
        ([{"id": "x"}], 200, "did not send price data"),
        ([], 200, "did not send price data"),
    ],
)
def test_data_that_is_not_price_data_is_refused(body: Any, status: int, said: str) -> None:
    """An error page, junk or an empty list never replaces the prices in use."""
    transport, _ = serving(body, status)
    with pytest.raises(pricing.PriceUpdateError, match=said):
        pricing.update(transport=transport)
    assert pricing.table_version() == pricing.VERSION


def test_an_endless_answer_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """update reads a bounded amount: a server sending without end is refused."""
    monkeypatch.setattr(pricing, "_MAX_UPDATE_BYTES", 1000)
    transport, _ = serving(b"[" + b" " * 5000 + b"]")
    with pytest.raises(pricing.PriceUpdateError, match="more than 1000 bytes"):
        pricing.update(transport=transport)


def test_a_cache_that_cannot_be_written_is_a_clear_error(tmp_path: Path) -> None:
    """A cache path in a file (not a directory) fails cleanly; prices stay."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    transport, _ = serving(NEWER)
    with pytest.raises(pricing.PriceUpdateError, match="could not cache"):
        pricing.update(transport=transport, path=blocker / "prices.json")
    assert pricing.table_version() == pricing.VERSION


def test_a_damaged_cache_falls_back_to_the_bundled_data(
    cache_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A cache file that cannot be read is named in a warning; bundled prices are used."""
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    cache_file.write_text('{"version": "x", "providers": [{"id": 1}]}')
    with caplog.at_level(logging.WARNING, logger="llmguard"):
        pricing.reload()
    assert pricing.table_version() == pricing.VERSION
    assert any(str(cache_file) in r.getMessage() for r in caplog.records)


def test_nothing_reaches_the_network_without_update(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading and using prices opens no connection."""
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("llmguard opened a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    pricing.reload()
    assert pricing.cost(lg.Usage(input=10, output=10), "azure/gpt-4o") is not None


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"timeout": -1.0}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": float("inf")}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"timeout": "30"}, "timeout"),
        ({"url": "http://[::1"}, "url"),
        ({"url": "ftp://example.com/prices.json"}, "url"),
        ({"url": ""}, "url"),
    ],
)
def test_update_refuses_a_bad_timeout_or_url_naming_it(
    arguments: dict[str, Any], named: str, tmp_path: Path
) -> None:
    """Misuse is a ConfigurationError naming the argument, before anything is fetched
    (the HTTP client raised its own ValueError, OverflowError or InvalidURL)."""
    fetched: list[object] = []

    def handler(request: Any) -> Any:
        fetched.append(request)
        raise AssertionError("nothing may be fetched")

    with pytest.raises(lg.ConfigurationError, match=named):
        lg.pricing.update(
            path=tmp_path / "prices.json", transport=httpx2.MockTransport(handler), **arguments
        )
    assert fetched == []
