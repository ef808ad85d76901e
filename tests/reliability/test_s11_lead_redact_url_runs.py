"""URL credentials cut between phone numbers take linear time.

The URL patterns' user and password ran unbounded: after each phone number the engine
searched again, and RE2 read on to the end of the text to learn whether a URL that
began earlier ended in an @ (``+14155552671(https://a:`` repeated: 256 KB took 2.6 s;
the percent-encoded form was quadratic before this session too). RE2's work counter
sees one call per value either way, so this is timed: process CPU, the least of three,
at two sizes 16x apart (linear: about 16x; quadratic: about 256x).
"""

from __future__ import annotations

import pytest

from llmguard.redact import DEFAULT
from tests._helpers.redaction import least_seconds

UNITS = [
    "+14155552671(https://",
    "+14155552671(https://a:",
    "+14155552671(https://a:b/",
    "+14155552671(https%3A%2F%2Fa%3A",
    "+14155552671(https%3A%2F%2Fa%3Ab/",
    "+14155552671(smtp://a%40b:",
]


def _seconds(text: str) -> float:
    return least_seconds(lambda: DEFAULT.redact(text))


@pytest.mark.parametrize("unit", UNITS)
def test_url_starts_between_phone_numbers_take_linear_time(unit: str) -> None:
    DEFAULT.redact(unit)  # the patterns compiled outside the timing
    small = _seconds(unit * (8 * 1024 // len(unit)))
    large = _seconds(unit * (128 * 1024 // len(unit)))
    assert large < 48 * small + 0.05, (small, large)


def test_the_passwords_of_those_urls_still_go() -> None:
    text = "+14155552671 https://app:pa/ss@db.example.com/x and https://app:s3cret@h/"
    redacted, counts = DEFAULT.redact(text)
    assert "pa/ss" not in redacted
    assert "s3cret" not in redacted
    assert "db.example.com/x" in redacted
    assert counts["url_password"] == 2


@pytest.mark.parametrize(
    "unit",
    ["+14155552671(<password>", "4111111111111111(<password>", "+14155552671(password=>x<"],
)
def test_element_like_names_between_other_values_take_linear_time(unit: str) -> None:
    """<password> once read its value to the next <, after a regex that read to the end
    of the line: 64 KB of these took 8.5 s."""
    DEFAULT.redact(unit)
    small = _seconds(unit * (8 * 1024 // len(unit)))
    large = _seconds(unit * (128 * 1024 // len(unit)))
    assert large < 48 * small + 0.05, (small, large)
