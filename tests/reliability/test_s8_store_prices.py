"""Attacks on ``llmguard prices update`` by its arguments: timeouts and URLs that are
none, which reached the user as unexpected errors from the HTTP client."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmguard.cli import main


@pytest.mark.parametrize("timeout", ["-1", "0", "nan", "inf", "-inf", "soon"])
def test_a_timeout_that_is_no_duration_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], timeout: str
) -> None:
    """``--timeout`` takes a finite number of seconds above 0; anything else is one line
    naming the option, exit status 2, and nothing is fetched or cached."""
    cache = tmp_path / "prices.json"
    argv = ["prices", "update", "--timeout", timeout, "--file", str(cache)]
    assert main([*argv, "--url", "http://127.0.0.1:9/data.json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("llmguard prices update: error: argument --timeout: ")
    assert err.count("\n") == 1
    assert "unexpected" not in err
    assert not cache.exists()


@pytest.mark.parametrize("url", ["http://[::1", "http://host:port/x"])
def test_a_url_that_cannot_be_parsed_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    """A ``--url`` the HTTP client cannot even parse is named in one line (exit 2),
    not an unexpected InvalidURL."""
    cache = tmp_path / "prices.json"
    assert main(["prices", "update", "--url", url, "--timeout", "1", "--file", str(cache)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unexpected" not in err
    assert "--url" in err
    assert not cache.exists()
