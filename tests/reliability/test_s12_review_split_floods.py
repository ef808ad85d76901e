"""Floods against the split search: each part of it must read the text about once.

A part searched on its own reads on to the end of its own leftmost match, where the
combined regex stops at the end of the leftmost match of all kinds. When a value of
the other part covers the start of that match, the part must look again, past the
value: if it searched on its own from there each time, a match running to the end of the
text would be read once a value. ``a@b.pass=`` repeated: each email ends inside a
password's name (``.pass=``), whose value runs on through the emails glued after it
(256 KB took 11.6 s, against 0.05 s with one regex).
"""

from __future__ import annotations

import random
import string

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests._helpers.redaction import assert_linear_work, least_seconds
from tests.reliability.test_s12_redact_split_search import SPLIT, WHOLE

KB = 1024


@pytest.mark.parametrize(
    "unit",
    [
        # An email ending inside a name of the other part, whose value runs to the end.
        "a@b.pass=",
        "a@b.pwd:",
        "x@y.secrets:",
        "a@b.Password=",
        "a@b.cookie=",
        "%22password%22%3A%22a@b.io",
        "%22secret%22%3A%22a@b.io",
        # Floods that read alike either way (guards of the same helper).
        "a@b.io password=x\n",
        "4111 1111 1111 1112 password=x\n",
        "+14155552671password=x\n",
        '"password": "a@b.io", ',
        "%22password%22%3A%22https://a:b@c.io ",
        "a@b.io\\npassword\\n",
        "https://pass=a:b@c",
    ],
)
def test_floods_of_names_inside_other_values_read_the_text_about_once(unit: str) -> None:
    assert_linear_work(unit, 4 * KB)


def test_the_email_flood_replaces_what_one_regex_replaces() -> None:
    text = "a@b.pass=" * 40
    assert SPLIT.redact(text) == WHOLE.redact(text) == ("[email]=" * 40, {"email": 40})


def test_the_email_flood_takes_about_as_long_as_with_one_regex() -> None:
    """Timed too, beside the count: against the same kinds in one regex (which stops at
    the end of each email), on the same text, so that a busy machine slows both alike."""
    size = 128 * KB
    unit = "a@b.pass="
    text = (unit * (size // len(unit) + 1))[:size]
    SPLIT.redact(text)
    WHOLE.redact(text)
    # read once a value: 2.9 s here (11.6 s at 256 KB), against 20 ms
    assert (
        least_seconds(lambda: SPLIT.redact(text))
        < 3 * least_seconds(lambda: WHOLE.redact(text)) + 0.05
    )


# Pieces that put a name of one part inside a value of the other, and values that run on.
_PIECES = [
    "%22password%22%3A%22", "%22secret%22%3A%22", "pwd=", "api_key=", "a@b.io", "x", "@", ".io",
    "a@b.pass=", "x@y.secrets:", ".pwd:",
    "%22", "%3D", " ", "\n", '"', "https://a:b@c", "+14155552671", "4111111111111112",
    "4111 1111 1111 1111", "QUJD+/=", "é", "\\n",
]  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=20), st.integers(1, 6))
@example(["a@b.pass="], 6)
@example(["a@b.pass=", "a@b.io", " ", "x@y.secrets:", "+14155552671"], 6)
@example(["%22password%22%3A%22", "a@b.io"], 6)
@example(["x", "%22secret%22%3A%22", "a@b.io", "%22", "pwd=", "+14155552671"], 5)
@example(["%22password%22%3A%22", "https://a:b@c", " ", "a@b.io"], 4)
def test_names_inside_other_values_read_the_same(pieces: list[str], times: int) -> None:
    """Repeated, so that the parts a value passed use up what they may read alone and the
    combined regex takes over, mid-text."""
    text = "".join(pieces) * times
    assert SPLIT.redact(text) == WHOLE.redact(text), text


def test_a_few_glued_values_before_base64_text_keep_it_fast() -> None:
    """What a part a value passed reads alone is bounded (then the combined regex reads,
    whose automaton is slow on base64-like text): a few such values, each sending the
    password's part to read on through the base64 text after them, must not use it up.
    Timed against prose of the same length, as the lead's base64 test is."""
    rng = random.Random(5)
    size = 128 * KB
    alphabet = string.ascii_letters + string.digits + "+/="
    text = "a@b.pass=" * 4 + "".join(rng.choices(alphabet, k=size))
    words = ["the", "order", "shipped", "today", "and", "we", "will", "write", "soon"]
    prose = " ".join(rng.choice(words) for _ in range(size // 4))[: len(text)]
    SPLIT.redact(text)
    SPLIT.redact(prose)
    assert (
        least_seconds(lambda: SPLIT.redact(text))
        < 8 * least_seconds(lambda: SPLIT.redact(prose)) + 0.01
    )
