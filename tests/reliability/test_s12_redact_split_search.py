"""The password's and secret's kinds are found by a regex of their own.

Their names can start at any letter, so one regex of every kind made RE2's automaton the
product of theirs and the others': on base64-like text its DFA cache never settled and
a megabyte took 1.6 to 3.5 s (4 to 16 ms since). The split must find exactly what the
one regex found: the leftmost match of either part, the one regex deciding where both
match at the same start, and a part's earlier answer not trusted at a new buffer's first
byte, where the text starts again after a value.
"""

from __future__ import annotations

import random
import string
from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from llmguard.redact import DEFAULT, Patterns, _engine, _patterns
from llmguard.redact._patterns import DEFAULT_PATTERNS, DEFAULT_STARTS
from llmguard.redact._search import ScanMemo, Search
from tests._helpers.redaction import least_seconds


def _default(split: bool) -> Patterns:
    """DEFAULT's kinds compiled afresh, with the name kinds split off or not."""
    patterns = Patterns.__new__(Patterns)
    patterns._setup(DEFAULT_PATTERNS, "[{kind}]", None, DEFAULT_STARTS)
    with mock.patch.object(_engine, "APART", _patterns.APART if split else frozenset()):
        patterns._engine()
    return patterns


SPLIT = _default(split=True)
WHOLE = _default(split=False)

# Pieces that start, end or sit between values of every kind, the names' above all.
PIECES = [
    "password", "Password=", "pwd:", "passwd = ", "pass=", "--password ", "secret", "secret: ",
    "api_key=", "API_KEY", "GITHUB_TOKEN=", "X_SECRET=", "access_token", '"password": "',
    '\\"secret\\": \\"', "%22password%22%3A", "Authorization: token ", "key=\"db_pass\" value=",
    "sshpass -p ", "mysql -u root -p", "Cookie: ", "set-cookie=", "aws_secret_access_key=",
    "sk-abcdefghijklmnopqrstuvwx1", "ghp_" + "a" * 36, "AKIAIOSFODNN7EXAMPLE",
    "eyJhbGciOi.eyJzdWIi.", "xoxb-1234567890-abc", "AIza" + "B" * 35, "a@b.io", "+14155552671",
    "4111 1111 1111 1111",
    "postgres://u:p@h/", "https://a:b@c", "Bearer abcdef123", "Basic dXNlcjpw",
    "MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kK", "hunter2", "x", "-", "_", ".",
    " ", "  ", "\n", "\t", "'", '"', ":", "=", "&", ";", "é", "\u00a0", "\\n", "%3D", "null",
    "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", "a-b_c.d/e f",
]  # fmt: skip


def _same(text: str) -> None:
    assert SPLIT.redact(text) == WHOLE.redact(text), text


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=24))
@example(["password", "password=", "hunter2"])
@example(["Password=", "secret: ", "x"])
@example(["a@b.io", "password=", "x", " ", "GITHUB_TOKEN=", "ghp_" + "a" * 36])
@example(["+14155552671", "pwd:", "+14155552671", "\n", "pass=", "a@b.io"])
def test_the_split_search_finds_what_one_regex_found(pieces: list[str]) -> None:
    _same("".join(pieces))


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=string.ascii_letters + string.digits + "-_./ =:\"'\n", max_size=400))
def test_the_split_search_agrees_on_base64_like_text(text: str) -> None:
    _same(text)


@pytest.mark.parametrize(
    "text",
    [
        # A value, then a name right after it: the new buffer's first byte, where a part's
        # earlier answer (with a byte before it) no longer holds.
        "a@b.io password=x",
        "a@b.iopassword=x",
        "+14155552671password=hunter2 +14155552671 secret=s",
        "4111111111111111 pwd=x 4111111111111112 pwd=y",
        # A name value, then another kind's value, then a name again, glued.
        "password=a@b.io secret=x@y.io",
        "api_key=sk-abcdefghijklmnopqrstuvwx1 OPENAI_API_KEY=sk-abcdefghijklmnopqrstuvwx2",
        # Rejected matches of another kind around names (kinds hidden, then back).
        "4111 1111 1111 1112 password=x 4111 1111 1111 1112 secret=y",
        # A URL right after a secret's value, in text that is not ASCII: the URL's part
        # had looked from an earlier buffer, where its scheme had a byte before it (found
        # by a random search; without the check at a new buffer's start the password
        # stayed).
        "éB_TOKEN=s -p 1234567890:" + "a" * 35 + "secret: API_KEYhttp://:b@",
        # Both parts matching at a new buffer's start (an email and a password there).
        "AccountKey=" + "A" * 86 + "==password%3Dx@b.io",
    ],
)
def test_values_glued_to_names_read_the_same(text: str) -> None:
    _same(text)
    assert SPLIT.redact(text) == DEFAULT.redact(text)


def test_where_both_parts_match_at_one_start_the_first_kind_wins() -> None:
    """The parts' own matches there may end apart: the combined regex, anchored at that
    start, takes the first kind's, as one regex would."""
    kept = [(0, "ab"), (1, "abc")]
    search = Search(kept, (None, None), None, apart=frozenset({0}))
    data = b"xabcd"
    assert search.find(data, 0, len(data), ScanMemo(len(data))) == (1, 3)
    whole = Search(kept, (None, None), None)
    assert whole.find(data, 0, len(data), ScanMemo(len(data))) == (1, 3)


def _seconds(patterns: Patterns, text: str) -> float:
    return least_seconds(lambda: patterns.redact(text))


@pytest.mark.parametrize(
    "alphabet",
    [string.ascii_letters + string.digits + "-_./ ", string.ascii_letters + string.digits + "+/="],
)
def test_base64_like_text_reads_about_as_fast_as_prose(alphabet: str) -> None:
    """Timed against prose of the same length with the same redactor, so that a busy
    machine slows both alike: RE2's work counter cannot see a DFA that never settles
    (it reads each byte once either way). With one regex it was about 100x prose."""
    rng = random.Random(7)
    size = 128 * 1024
    text = "".join(rng.choices(alphabet, k=size))
    words = ["the", "order", "shipped", "today", "and", "we", "will", "write", "soon"]
    prose = " ".join(rng.choice(words) for _ in range(size // 4))[:size]
    DEFAULT.redact(text)  # the automaton's states for this text built outside the timing
    DEFAULT.redact(prose)
    assert _seconds(DEFAULT, text) < 8 * _seconds(DEFAULT, prose) + 0.01


def test_start_bytes_count_what_re2_folds_case_to() -> None:
    """RE2 folds case by Unicode: a case-insensitive s also matches the long s (U+017F)
    and k the Kelvin sign (U+212A), so a match owed to the text's start may begin with a
    byte that is not ASCII."""
    from llmguard.redact._search import start_bytes

    firsts = start_bytes("(?:^|[^a-z])(?i:s)ecret")
    assert firsts is not None
    assert "\u017f".encode()[0] in firsts
    assert {ord("s"), ord("S")} <= firsts
    assert ord("x") not in firsts
    assert start_bytes("(?:^|[^a-z])secret") == frozenset(b"s")
