"""A value's end counted inside a character (found while fuzzing the split search; the
same before it).

When a name's value was too long to be one, its check read on past it up to a length in
bytes, decoded what it read with U+FFFD for a character cut there (three bytes for one
or two), and counted the value's end in those: in text that is not ASCII the value
ended inside a character and `redact` raised UnicodeDecodeError into the caller. What
the check reads now ends between characters, and decodes to the bytes it took.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from llmguard.redact import DEFAULT


def test_a_secret_value_in_non_ascii_text_ends_between_characters() -> None:
    text = "\u017fecret=c dXNlcjpwa@b.iosk-abcdefghijklmnopqrstuvwx1passwd = tok_abcd1234\xa0é"
    new, counts = DEFAULT.redact(text)
    assert new.startswith("\u017fecret=[secret]")
    assert "tok_abcd1234" not in new
    assert counts["secret"] == 1


TAILS = ["\xa0", "é", "\u20ac", "\U0001f600", "\ud800", " ", "x"]


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["\u017fecret=c ", "secret=c ", "é secret=c "]),
    st.integers(20, 60),
    st.lists(st.sampled_from(TAILS), min_size=1, max_size=4),
)
@example("\u017fecret=c ", 39, ["\U0001f600"])
def test_values_under_names_never_end_inside_a_character(
    head: str, pad: int, tail: list[str]
) -> None:
    """Whatever characters of two, three or four bytes (or a lone surrogate) lie where the
    check stops reading, redaction answers with text, the name's value replaced."""
    text = head + "a" * pad + " passwd = tok_abcd1234" + "".join(tail)
    new, counts = DEFAULT.redact(text)
    new.encode("utf-8", "surrogatepass")
    assert counts["secret"] == 1
