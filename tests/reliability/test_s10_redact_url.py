"""A URL's password holding an unencoded ``@`` or ``:`` is replaced whole, alone and at
the end of a run of glued URLs: no piece of it is left as the host."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import HealthCheck, given, settings
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

# -- URL passwords: the password runs to the last @ of the authority ---------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgres://user:p@ss@db/x", "postgres://user:[url_password]@db/x"),
        (
            "postgres://user:p@ss@db.example.com/x",
            "postgres://user:[url_password]@db.example.com/x",
        ),
        (
            "postgres://user:p@ss!@db.example.com/x",
            "postgres://user:[url_password]@db.example.com/x",
        ),
        ("mysql://root:a@b@c@localhost:3306/db", "mysql://root:[url_password]@localhost:3306/db"),
        ("redis://:p@ss@cache:6379", "redis://:[url_password]@cache:6379"),
        ("https://user:pa:ss@host/", "https://user:[url_password]@host/"),
        ("https://user:pa:ss@host.example.com/", "https://user:[url_password]@host.example.com/"),
        ("amqp://guest:g@@st@rabbit", "amqp://guest:[url_password]@rabbit"),
        ('{"dsn": "postgres://u:p@ss@db"}', '{"dsn": "postgres://u:[url_password]@db"}'),
        ("postgres://u:p@ss@db?x=a@b", "postgres://u:[url_password]@db?x=a@b"),
        ("postgres://u:p@ss@db#a@b", "postgres://u:[url_password]@db#a@b"),
        ("postgres://u:p@ss@db a@b", "postgres://u:[url_password]@db a@b"),
        # percent-encoded, in another URL's query
        ("https%3A%2F%2Fuser%3Apass%40host", "https%3A%2F%2Fuser%3A[url_password]%40host"),
        (
            "/login?next=https%3a%2f%2fu%3Ap%40ss%40h.example.com%2Fx",
            "/login?next=https%3a%2f%2fu%3A[url_password]%40h.example.com%2Fx",
        ),
        ("@postgres://u:p@h%40x", "@postgres://u:[url_password]%40x"),
    ],
)
def test_a_url_password_holding_at_signs_or_colons_is_replaced_whole(
    text: str, expected: str
) -> None:
    """Everything between the user's colon and the authority's last ``@`` is the password."""
    assert redact_text(text)[0] == expected
    assert ONE_BY_ONE.redact(text)[0] == expected


@pytest.mark.parametrize(
    "text",
    [
        "postgres://u:p@postgres://u:q@ss@db/x",  # a glued run whose last password holds @
        "@postgres://a:b@postgres://c:d@postgres://e:f@g@h/",
        " x postgres://a:b@postgres://c:d@e:f@g ",
        "@postgres://a:b@postgres://c:d@h%40x",  # the last host holds %40
    ],
)
def test_a_run_of_glued_urls_ends_with_the_whole_last_password(text: str) -> None:
    """The run of glued URLs reads its last password as far as the value alone would."""
    redacted = redact_text(text)[0]
    assert redacted == ONE_BY_ONE.redact(text)[0]
    assert "ss@" not in redacted
    assert "f@g" not in redacted


_PASSWORD = st.text(string.ascii_letters + string.digits + "@:!$&()*+,;=._~-%", min_size=1)
_HOST = st.sampled_from(["db", "db.example.com", "localhost:5432", "10.0.0.1", "h"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scheme=st.sampled_from(["postgres", "https", "redis", "mongodb+srv", "amqp"]),
    user=st.text(string.ascii_letters + string.digits + "._-", max_size=8),
    password=_PASSWORD,
    host=_HOST,
    tail=st.sampled_from(["", "/app", "?sslmode=require", " and more", '"', "\n"]),
    glued=st.integers(0, 3),
)
def test_no_piece_of_a_url_password_survives(
    scheme: str, user: str, password: str, host: str, tail: str, glued: int
) -> None:
    """Generated passwords with ``@``, ``:`` and punctuation: the user and host stay,
    the password goes, alone or after glued URLs, and the run reads as value by value."""
    url = f"{scheme}://{user}:{password}@{host}{tail}"
    text = f"{scheme}://u:p@" * glued + url
    redacted = redact_text(text)[0]
    assert redacted.endswith(f"{user}:[url_password]@{host}{tail}"), (text, redacted)
    assert redacted == ONE_BY_ONE.redact(text)[0]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(
        st.tuples(
            st.sampled_from(["postgres://", "https://", "jdbc:mysql://", "htps://", "@"]),
            st.sampled_from(["u", "", "a.b", "u@x"]),
            st.sampled_from([":", ":", "", "::"]),
            st.text("p@:;%40x", max_size=6),
        ).map("".join),
        min_size=1,
        max_size=12,
    ),
    tail=st.sampled_from(["@db", "@", "@h%40x", "@db/x", " ", "@@"]),
)
def test_glued_urls_whose_passwords_hold_at_signs_read_as_value_by_value(
    pieces: list[str], tail: str
) -> None:
    """Glued URLs, each password with @, : or % in it: the run reads as each value alone."""
    text = "@".join(pieces) + tail
    assert redact_text(text) == ONE_BY_ONE.redact(text), text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("smtp://me@mail.com:pw0rd@localhost:587", "smtp://[url_credentials]@localhost:587"),
        (
            "smtp://me@mail.com:pw0rd@smtp.mail.com:587",
            "smtp://[url_credentials]@smtp.mail.com:587",
        ),
        ("imaps://a%40b.com:p@w@mx", "imaps://[url_credentials]@mx"),
        ("https%3A%2F%2Fme%40x.com%3Apw%40h", "https%3A%2F%2F[url_credentials]%40h"),
        ("https://git@github.com/org/repo", "https://[email]/org/repo"),  # no password
        ("ssh://git@github.com:22/x", "ssh://[email]:22/x"),  # a port, no password
    ],
)
def test_a_url_whose_user_is_an_email_loses_user_and_password(text: str, expected: str) -> None:
    """With an email as the user, the user and password go together; the host stays."""
    assert redact_text(text)[0] == expected
    assert ONE_BY_ONE.redact(text)[0] == expected
