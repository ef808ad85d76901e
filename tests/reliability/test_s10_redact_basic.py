"""HTTP Basic credentials (``Authorization`` and ``Proxy-Authorization`` headers, in
header text, JSON and dict reprs) and curl's ``-u user:password`` are replaced: a new
default kind, ``basic_auth``; prose after the word Basic stays."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmguard.redact import DEFAULT, Patterns, redact_text

# The default kinds each wrapped in a group: not llmguard's own to the engine, which
# then reads every value alone (no runs, no memos).
ONE_BY_ONE = Patterns(
    {
        name: (re.compile(f"(?:{pattern.pattern})", re.A), validator)
        for name, (pattern, validator) in DEFAULT.patterns.items()
    }
)

# -- HTTP Basic credentials and curl -u ---------------------------------------------------

CREDENTIALS = base64.b64encode(b"alice:wonderland-42").decode()  # YWxpY2U6d29uZGVybGFuZC00Mg==


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Authorization: Basic {CREDENTIALS}", "Authorization: [basic_auth]"),
        (f"Proxy-Authorization: Basic {CREDENTIALS}\r\n", "Proxy-Authorization: [basic_auth]\r\n"),
        (f"authorization: basic {CREDENTIALS}", "authorization: [basic_auth]"),
        (f"AUTHORIZATION: BASIC {CREDENTIALS}", "AUTHORIZATION: [basic_auth]"),
        (f'{{"Authorization": "Basic {CREDENTIALS}"}}', '{"Authorization": "[basic_auth]"}'),
        (f"{{'Authorization': 'Basic {CREDENTIALS}'}}", "{'Authorization': '[basic_auth]'}"),
        (
            f"headers={{b'Authorization': b'Basic {CREDENTIALS}'}}",
            "headers={b'Authorization': b'[basic_auth]'}",
        ),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: [basic_auth]"),  # user:pass
        ("Basic dXNlcjpwYXNzd29yZA", "[basic_auth]"),  # no padding
        (
            "curl -u admin:s3cret https://api.example.com",
            "curl [basic_auth] https://api.example.com",
        ),
        ("curl --user admin:s3cret https://x", "curl [basic_auth] https://x"),
        ("curl --user=admin:s3cret https://x", "curl [basic_auth] https://x"),
        ("curl -s -u 'admin:p@ss word' https://x", "curl -s [basic_auth]' https://x"),
        ('curl -u "admin:s3cret" https://x', 'curl [basic_auth]" https://x'),
        (
            "curl -U proxy:pr0xy-pw --proxy-user p:q https://x",
            "curl [basic_auth] [basic_auth] https://x",
        ),
    ],
)
def test_basic_credentials_are_replaced(text: str, expected: str) -> None:
    """A Basic credential in a header, JSON or a dict's repr, and curl's user:password."""
    assert redact_text(text)[0] == expected
    assert ONE_BY_ONE.redact(text)[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        "Basic idea: keep it simple",
        "basic information about the plan",
        "Basic Og==",  # an empty user and password
        "BASIC 10 PRINT HELLO",
        "Basic auth is configured elsewhere",
        "git push -u origin main",
        "docker run -u 1000:1000 image",
        "ps -u root",
    ],
)
def test_lookalikes_of_basic_credentials_stay(text: str) -> None:
    """Prose after the word Basic, and options that are not credentials, stay."""
    assert redact_text(text) == (text, {})


# What a user or password holds: anything but control characters.
_CHARACTERS = st.characters(
    min_codepoint=0x20, exclude_characters="\x7f", exclude_categories=("Cs",)
)


@settings(max_examples=100, deadline=None)
@given(
    user=st.text(_CHARACTERS, min_size=1, max_size=12).filter(lambda s: ":" not in s),
    password=st.text(_CHARACTERS, min_size=1, max_size=20),
)
def test_any_basic_credential_is_replaced(user: str, password: str) -> None:
    """Any user and password, encoded as a client sends them, is replaced."""
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    text = f"Authorization: Basic {encoded}\n"
    assert redact_text(text)[0] == "Authorization: [basic_auth]\n"


_WORDS = st.sampled_from(
    [
        "Basic dXNlcjpwYXNz", "basic dXNlcjpw", "BASIC YTpi", "Basic Basic", "Basic idea",
        "Basic dXNlcjpw==", "Basic Og==", "Basic dXNlcjpw-x", "-u a:b", "-u 1000:1000",
        "--user ad:m:in", "-U p:q@r", "-u x", "-u", "a@b.io", "+1 415 555 0132",
        "Bearer abc123xyz", "x", "",
    ]
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    pieces=st.lists(
        st.tuples(_WORDS, st.sampled_from([" ", " ", " ", "\n", "\t", "  ", "", ", ", "'"])),
        max_size=30,
    )
)
def test_runs_of_basic_credentials_read_as_value_by_value(pieces: list[tuple[str, str]]) -> None:
    """Basic credentials and curl options one after another come out as each read alone."""
    text = "".join(value + separator for value, separator in pieces)
    assert DEFAULT.redact(text) == ONE_BY_ONE.redact(text), text
    many = [text, text[1:], "x " + text]
    assert DEFAULT.redact_many(many) == ONE_BY_ONE.redact_many(many), text
