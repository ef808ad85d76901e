"""Session 10's speed work keeps every replacement: runs that now take more values (``+``
numbers of any digit count among emails) read exactly as an engine reading each value
alone, and floods of them stay linear in the work RE2 does."""

from __future__ import annotations

import re
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmguard.redact import DEFAULT, Patterns

# The default kinds each wrapped in a group: not llmguard's own to the engine, which
# then reads every value alone (no runs, no memos).
ONE_BY_ONE = Patterns(
    {
        name: (re.compile(f"(?:{pattern.pattern})", re.A), validator)
        for name, (pattern, validator) in DEFAULT.patterns.items()
    }
)

# "+" and 1 to 19 digits: phone numbers, too short or too long for one, cards after a +.
_PLUS = st.text(string.digits, min_size=1, max_size=19).map("+".__add__)
_VALUES = st.one_of(
    _PLUS,
    st.sampled_from(
        [
            "a@b.co", "x.y@c.io", "+1 415 555 0132", "+1 2 3", "+44 20 7946 0958", "+1", "+12",
            "+4111111111111111", "+41111111111111111", "4111 1111 1111 1111", "(", "5", "0",
            "a@b.co+1",
        ]
    ),
)  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(
        st.tuples(_VALUES, st.sampled_from([" ", " ", " ", " ", "\n", "\t", "  ", "", "-"])),
        max_size=40,
    )
)
def test_emails_and_plus_numbers_of_any_length_read_as_value_by_value(
    pieces: list[tuple[str, str]],
) -> None:
    """``+`` numbers of 1 to 19 digits among emails, cards and phone numbers: the same
    replacements as reading each value alone, in one text and in a batch."""
    text = "".join(value + separator for value, separator in pieces)
    assert DEFAULT.redact(text) == ONE_BY_ONE.redact(text), text
    many = [text, text[1:], "x " + text]
    assert DEFAULT.redact_many(many) == ONE_BY_ONE.redact_many(many), text
