"""``llmguard prices show`` and ``llmguard prices update``."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from llmguard import pricing
from llmguard.cli import main
from tests._helpers.prices import NEWER


@pytest.fixture(autouse=True)
def cache_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "prices.json"
    monkeypatch.setenv("LLMGUARD_PRICES_FILE", str(path))
    pricing.reload()
    yield path
    monkeypatch.delenv("LLMGUARD_PRICES_FILE")
    pricing.reload()


def test_show_prints_the_prices_and_their_source(capsys: pytest.CaptureFixture[str]) -> None:
    """A model's prices per million tokens, and the database entry they came from."""
    assert main(["prices", "show", "azure/gpt-4o"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("azure/gpt-4o: US dollars per million tokens, at ")
    assert lines[2].split() == [
        "input",
        "tokens",
        "input",
        "output",
        "cached",
        "input",
        "cache",
        "write",
    ]
    assert lines[4].split() == ["all", "$2.50", "$10.00", "$1.25", "as", "input"]
    assert lines[-1] == f"source: {pricing.VERSION}: azure/gpt-4o"


def test_show_prints_tiers_and_an_old_price(capsys: pytest.CaptureFixture[str]) -> None:
    """--at gives the price of that day; tiers get a row each."""
    assert main(["prices", "show", "mistral-medium-latest", "--at", "2026-01-01"]) == 0
    assert capsys.readouterr().out.splitlines()[4].split()[:3] == ["all", "$0.40", "$2.00"]
    assert main(["prices", "show", "gemini-2.5-pro"]) == 0
    rows = capsys.readouterr().out.splitlines()[4:6]
    assert rows[0].split()[:5] == ["up", "to", "200,000", "$1.25", "$10.00"]
    assert rows[1].split()[:4] == ["over", "200,000", "$2.50", "$15.00"]


def test_show_names_your_own_price_as_the_source(capsys: pytest.CaptureFixture[str]) -> None:
    """A price set in code is shown as such (the command runs in this process)."""
    pricing.set_price("house-model", input=1, output=2)
    assert main(["prices", "show", "house-model"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "source: set_price"


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["prices", "show", "no-such-model"], "no price for 'no-such-model' in genai-prices"),
        (["prices", "show", "gpt-4o", "--at", "someday"], "--at: at must be an ISO 8601 time"),
    ],
)
def test_show_fails_in_one_line(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown model or a bad time: exit status 2, one line on stderr."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert said in err


def test_show_escapes_a_hostile_model_name(capsys: pytest.CaptureFixture[str]) -> None:
    """A name holding terminal escapes is printed escaped."""
    pricing.set_price("evil\x1b]0;pwned\x07", input=1, output=1)
    assert main(["prices", "show", "evil\x1b]0;pwned\x07"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "\\x1b" in out


def test_update_fetches_and_caches(
    monkeypatch: pytest.MonkeyPatch, cache_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """update prints the new version and where it is cached; show then uses it."""
    asked: list[str] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        asked.append(str(request.url))
        return httpx2.Response(200, content=json.dumps(NEWER).encode())

    fetch = functools.partial(pricing.update, transport=httpx2.MockTransport(answer))
    monkeypatch.setattr(pricing, "update", fetch)
    assert main(["prices", "update", "--url", "https://prices.example/data.json"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert asked == ["https://prices.example/data.json"]
    assert out[0].startswith("prices updated: genai-prices data fetched ")
    assert out[1] == f"cached in {cache_file}"
    assert json.loads(cache_file.read_text())["providers"] == NEWER
    assert main(["prices", "show", "gpt-4o"]) == 0
    assert capsys.readouterr().out.splitlines()[4].split()[:3] == ["all", "$2.00", "$8.00"]


def test_update_offline_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, cache_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No network: exit status 2, the reason, and the prices left as they were."""

    def offline(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("[Errno -2] Name or service not known")

    fetch = functools.partial(pricing.update, transport=httpx2.MockTransport(offline))
    monkeypatch.setattr(pricing, "update", fetch)
    assert main(["prices", "update"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "could not fetch price data" in err
    assert "Name or service not known" in err
    assert "unchanged" in err
    assert not cache_file.exists()
