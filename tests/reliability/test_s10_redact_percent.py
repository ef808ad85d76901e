"""Values behind a percent escape (a URL-encoded quote, space or ``+`` before a key; an
email whose ``@`` is ``%40``) are replaced: the escape no longer hides them."""

from __future__ import annotations

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

# -- values behind a percent escape -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("q=%22sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e%22", "q=%22[api_key]%22"),
        ("?email=jane.doe%40example.com&x=1", "?email=[email]&x=1"),
        ("to=jane.doe%40example.com", "to=[email]"),
        ("k=%20AKIAIOSFODNN7EXAMPLE", "k=%20[aws_access_key]"),
        ("next=%2Bghp_" + "a1" * 18, "next=%2B[github_token]"),
    ],
)
def test_values_behind_a_percent_escape_are_replaced(text: str, expected: str) -> None:
    """A URL-encoded quote, space or @ no longer hides the value next to it."""
    assert redact_text(text)[0] == expected
    assert ONE_BY_ONE.redact(text)[0] == expected


_EMAILS = st.tuples(
    st.text("abc.%+-_'019", min_size=1, max_size=6),
    st.sampled_from(["@", "%40", "%4", "@%40", "%40%40"]),
    st.sampled_from(["b.io", "x.y.com", "c", "%2e.io", "b.io%20"]),
).map("".join)


@settings(max_examples=150, deadline=None)
@given(
    pieces=st.lists(
        st.tuples(
            st.one_of(_EMAILS, st.sampled_from(["+1 415 555 0132", "x", "%22", "a@b.io"])),
            st.sampled_from([" ", " ", "\n", "\t", "  ", "%20", ""]),
        ),
        max_size=30,
    )
)
def test_runs_of_percent_encoded_emails_read_as_value_by_value(
    pieces: list[tuple[str, str]],
) -> None:
    """Emails written with ``%40``, run together with others, come out as each read alone."""
    text = "".join(value + separator for value, separator in pieces)
    assert DEFAULT.redact(text) == ONE_BY_ONE.redact(text), text
