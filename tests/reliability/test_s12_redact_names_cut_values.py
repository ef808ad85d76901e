"""Values under a secret's name that the check ends before the regex did, in linear time.

The value's regex read an unquoted value on to the next whitespace, and the check then
ended it sooner: at a URL's escape of a quote, & or ; (``%22``, ``%26``, ``%3B``), or
rejected it as code (``get_password()``). Glued together, each value's search read on to
the end of the line again: 64 KB of ``password=%22x`` took 7.3 s, of
``+14155552671(password=f()`` 7.5 s. The regex now ends a value right after its first
``%`` or ``(``, and the check reads on only as far as decides it.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from llmguard.redact import DEFAULT
from tests._helpers.redaction import assert_linear_work, least_seconds

FLOODS = [
    "password=%22x",
    "+14155552671(password=%22",
    "+14155552671(password=f()",
    "+14155552671(cookie=%22",
    "x password=\\%22x",
    "x api_key=a%26b",
    "+14155552671(x=%22&password=a(",
]


@pytest.mark.parametrize("unit", FLOODS)
def test_values_cut_short_take_linear_work(unit: str) -> None:
    """RE2 calls and bytes read at n and 8n."""
    assert_linear_work(unit, 4096)


@pytest.mark.parametrize("unit", FLOODS[:4])
def test_values_cut_short_take_linear_time(unit: str) -> None:
    """Timed, since the work counter cannot see Python reading a value again: 16x the
    text in well under 48x the time (quadratic is about 256x)."""
    DEFAULT.redact(unit)
    small = least_seconds(lambda: DEFAULT.redact(unit * (8 * 1024 // len(unit))))
    large = least_seconds(lambda: DEFAULT.redact(unit * (128 * 1024 // len(unit))))
    assert large < 48 * small + 0.05, (small, large)


_SAME = [
    ("url ?password=abc%26user=bob", "url ?password=[password]%26user=bob"),
    ("url ?password=a%2b%3Bx", "url ?password=[password]%3Bx"),
    ("run password=50% off", "run password=[password] off"),
    ("run password=Summer(2024)! ok", "run password=[password] ok"),
    ("run password=get_password() ok", "run password=get_password() ok"),
    ("run password=a\\%22b ok", "run password=[password]%22b ok"),
    ("run password=%22hunter2%22 ok", "run password=%22[password]%22 ok"),
    ("run password=null%26password=x ok", "run password=[password]ok"),
]


@pytest.mark.parametrize(("text", "expected"), _SAME)
def test_values_end_where_they_did(text: str, expected: str) -> None:
    """A word ends at its first %22, %26 or %3B; code stays; % and ( inside a word are
    part of it."""
    assert DEFAULT.redact(text)[0] == expected


_CODE = re.compile(r"[A-Za-z_][\w.]*\(\)")
_STOP = re.compile(r"%2[26]|%3[Bb]")


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet="ab1%236Bb()!x_.", min_size=1, max_size=30))
@example("a%2%22b")
@example("f()%22x")
@example("x(%26y")
def test_an_unquoted_word_is_read_to_its_first_stop(word: str) -> None:
    """Any word of letters, digits, %, ( and ): replaced up to its first URL-escaped stop
    (less the ) after it), unless it is a call or empty there. (A word starting with %22
    opens a quote, read as a quoted value: not this property's.)"""
    assume(not word.startswith("%22"))
    redacted, counts = DEFAULT.redact(f"run password={word} ok")
    stop = _STOP.search(word)
    token = word if stop is None else word[: stop.start()]
    head = token.rstrip(")")
    if _CODE.match(word) or not head:
        assert redacted == f"run password={word} ok"
        assert counts == {}
    else:
        assert redacted == f"run password=[password]{word[len(head) :]} ok"
        assert counts == {"password": 1}
