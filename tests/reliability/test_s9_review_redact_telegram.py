"""Telegram bot tokens where they are most often written down: in the Bot API's URLs
(``https://api.telegram.org/bot<token>/sendMessage``, which HTTP clients log), and as
a bearer token. Neither half of the token may reach a sink."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmguard.redact import DEFAULT, Patterns

TOKEN = "110201543:AAHdqTcvCH1vGWJxfSe1ofSAs0K5PALDsaw"
SECRET_HALF = TOKEN.split(":")[1]

ONE_BY_ONE = Patterns(
    {
        name: (re.compile(f"(?:{pattern.pattern})", re.A), validator)
        for name, (pattern, validator) in DEFAULT.patterns.items()
    }
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"HTTP Request: POST https://api.telegram.org/bot{TOKEN}/sendMessage",
            "HTTP Request: POST https://api.telegram.org/bot[telegram_bot_token]/sendMessage",
        ),
        (
            f"https://api.telegram.org/file/bot{TOKEN}/photos/file_1.jpg",
            "https://api.telegram.org/file/bot[telegram_bot_token]/photos/file_1.jpg",
        ),
        (f"/bot{TOKEN}", "/bot[telegram_bot_token]"),
    ],
)
def test_a_token_in_a_bot_api_url_is_replaced(text: str, expected: str) -> None:
    """The token after ``/bot`` in a URL's path is replaced, the URL around it kept."""
    assert DEFAULT.redact(text) == (expected, {"telegram_bot_token": 1})


@pytest.mark.parametrize("text", [f"Bearer {TOKEN}", f"Authorization: bearer {TOKEN}\n"])
def test_a_token_sent_as_a_bearer_token_is_replaced_whole(text: str) -> None:
    """``Bearer id:secret`` is one bearer token: its secret half went out after the
    replaced ``Bearer id``."""
    redacted, counts = DEFAULT.redact(text)
    assert SECRET_HALF not in redacted
    assert counts == {"bearer_token": 1}


@pytest.mark.parametrize(
    "text",
    [
        f"robot{TOKEN}",  # a word ending in bot
        f"/bot{TOKEN}x",  # 36 characters
        "Bearer token: the scheme's name",  # prose, its colon before a space
        "Bearer abcdef:",  # a colon at the end
    ],
)
def test_lookalikes_stay(text: str) -> None:
    """A token glued to a longer word, one character too long, and prose stay."""
    assert DEFAULT.redact(text) == (text, {})


TAILS = st.text("AHdqTcv019_-", min_size=35, max_size=35)
AROUND = st.sampled_from(["", " ", "/", "/x", "?a=1", "\n", "Bearer ", ":", "."])


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            AROUND,
            st.sampled_from(["https://api.telegram.org/bot", "/bot", "Bearer ", "bearer\t", " "]),
            st.text("0123456789", min_size=8, max_size=10),
            st.just(":"),
            TAILS,
        ).map("".join),
        min_size=1,
        max_size=8,
    )
)
def test_tokens_in_urls_and_bearer_headers_come_out_as_read_one_by_one(pieces: list[str]) -> None:
    """Tokens after ``/bot`` and ``Bearer``, side by side: the engine's runs and shortcuts
    replace what a reading of each value alone replaces, and no token's secret half
    stays."""
    text = " ".join(pieces)
    redacted = DEFAULT.redact(text)
    for piece in pieces:
        assert piece[-35:] not in redacted[0], text
    assert redacted == ONE_BY_ONE.redact(text)
    many = [text, "x " + text]
    assert DEFAULT.redact_many(many) == ONE_BY_ONE.redact_many(many)


@pytest.mark.parametrize(
    "unit",
    [
        f"Bearer {TOKEN} ",
        f"/bot{TOKEN}/",
        "Bearer abcdef:",
        "Bearer a1:b:c:",
        "/bot110201543:",
        "/bot1102015439",
    ],
)
def test_floods_of_the_new_forms_take_linear_work(unit: str) -> None:
    """Tokens after ``/bot`` and bearer tokens with colons, repeated, and their near
    misses: eight times the text costs at most about eight times the RE2 calls and bytes."""
    from tests.reliability.test_s9_redact_runs import _assert_linear_work

    _assert_linear_work(unit)
