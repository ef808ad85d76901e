"""A run of emails and ``+`` phone numbers whose emails write their ``@`` as ``%40``
(``+2345678 a%40b.io +8 @``) was cut as phone numbers alone: the email was dropped from
the run's values, and reached the sink. Such runs read as value by value."""

from __future__ import annotations

import re

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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x +2345678 a%40b.io +8 @", "x +2345678 [email] +8 @"),
        ("+2345678\na%40b.io +8\n@", "+2345678\n[email] +8\n@"),
        ("q=+1 a%40b.io +12 jane%40example.com +1 @", "q=+1 [email] +12 [email] +1 @"),
    ],
)
def test_percent_encoded_emails_among_phone_numbers_are_replaced(text: str, expected: str) -> None:
    """The emails of a run with no literal @ in it are replaced (they were left)."""
    assert redact_text(text)[0] == expected
    assert ONE_BY_ONE.redact(text)[0] == expected


_VALUES = st.one_of(
    st.text("0123456789", min_size=1, max_size=16).map("+".__add__),
    st.sampled_from(
        [
            "a%40b.io", "jane%40example.com", "a@b.io", "x%40y", "%40b.io", "+1 415 555 0132",
            "@", "%40", "+", "4111 1111 1111 1111", "x", "",
        ]
    ),
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(
        st.tuples(_VALUES, st.sampled_from([" ", " ", " ", "\n", "\t", "  ", ""])), max_size=40
    )
)
def test_runs_with_percent_encoded_emails_read_as_value_by_value(
    pieces: list[tuple[str, str]],
) -> None:
    """Emails written with %40 among + numbers and other values: as each read alone."""
    text = "".join(value + separator for value, separator in pieces)
    assert DEFAULT.redact(text) == ONE_BY_ONE.redact(text), text
    many = [text, text[1:], "x " + text]
    assert DEFAULT.redact_many(many) == ONE_BY_ONE.redact_many(many), text


@pytest.mark.parametrize("unit", ["+2345678 a%40b.io +8 @ ", "a%40b.io +12 ", "+1 x%40y.co "])
def test_floods_of_them_are_redacted_as_one_by_one(unit: str) -> None:
    """Hundreds of such runs one after another."""
    text = "x " + unit * 400 + "end"
    assert DEFAULT.redact(text) == ONE_BY_ONE.redact(text)
