"""Leaks left by session 10: curl's ``-u`` after a tab, Basic credentials folded onto the
next line, URL passwords holding an unencoded ``/``, ``?`` or ``#``."""

from __future__ import annotations

import string
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmguard.redact import DEFAULT
from tests._helpers.redaction import counting_re2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("curl -u\tadmin:s3cr3t https://x", "curl [basic_auth] https://x"),
        (
            "Authorization: Basic\r\n dXNlcjpwdw==\r\nHost: x",
            "Authorization: [basic_auth]\r\nHost: x",
        ),
        ("Authorization: Basic\n\tdXNlcjpwdw==", "Authorization: [basic_auth]"),
        ("postgres://app:pa/ss@db/app", "postgres://app:[url_password]@db/app"),
        ("postgres://app:pa?ss@db/app", "postgres://app:[url_password]@db/app"),
        ("postgres://app:pa#ss@db/app", "postgres://app:[url_password]@db/app"),
        ("redis://:p/a?s#s@cache:6379/0", "redis://:[url_password]@cache:6379/0"),
    ],
)
def test_the_secret_goes(text: str, expected: str) -> None:
    """Each of last session's leaks: the secret goes, the rest stays."""
    assert DEFAULT.redact(text)[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        "https://registry.npmjs.org:443/@scope/pkg",
        "see https://example.com/a:b/c@d",
        "http://localhost:3000/users/@me",
        "Basic\n  usage: run it",
    ],
)
def test_ports_and_paths_stay(text: str) -> None:
    """A port before a path holding an @ is no password; prose after Basic stays."""
    assert DEFAULT.redact(text) == (text, {})


@settings(max_examples=60, deadline=None)
@given(
    password=st.text(string.ascii_letters + string.digits + "/?#!$&()*+,;=._~-", min_size=1),
    user=st.text(string.ascii_lowercase, max_size=6),
)
def test_any_password_with_unencoded_delimiters_goes(password: str, user: str) -> None:
    """Whatever the password holds (no @, no whitespace), none of it remains."""
    text = f"dsn postgres://{user}:{password}@db.internal:5432/app end"
    redacted, _ = DEFAULT.redact(text)
    head = password.split("/")[0].split("?")[0].split("#")[0]
    if head.isdigit() and head != password and len(head) <= 5:
        return  # a port then a path: read as such (test_ports_and_paths_stay)
    assert redacted == f"dsn postgres://{user}:[url_password]@db.internal:5432/app end"


def _work(redact: Callable[[], object]) -> list[int]:
    with counting_re2() as tally:
        redact()
    return tally


KB = 1024


@pytest.mark.parametrize(
    "unit",
    ["postgres://u:a/", "postgres://u:a/b@", "https://h:443/@", "Basic\r\n ", "Basic\r\n YTpi "],
)
def test_floods_take_linear_work(unit: str) -> None:
    """Eight times the text: at most about eight times the RE2 calls and bytes read."""
    small_text = (unit * (16 * KB // len(unit) + 1))[: 16 * KB]
    large_text = unit * (7 * 16 * KB // len(unit)) + small_text
    small = _work(lambda: DEFAULT.redact(small_text))
    large = _work(lambda: DEFAULT.redact(large_text))
    assert large[0] <= 9 * small[0] + 64, f"RE2 calls {small[0]} then {large[0]}"
    assert large[1] <= 9 * small[1] + 64 * KB, f"bytes read {small[1]} then {large[1]}"
