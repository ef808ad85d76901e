"""A header built from a token that held its scheme already (``Bearer Bearer TOKEN``,
``Basic Basic ...``) left the token after the second name in the trace: the value is
now the names and the token together, alone and in runs of such headers, which read as
value by value, in linear work."""

from __future__ import annotations

import base64
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

BASIC = base64.b64encode(b"alice:wonderland-42").decode()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer Bearer sk-abc123def", "Authorization: [bearer_token]"),
        ("Authorization: bearer Bearer abc123def", "Authorization: [bearer_token]"),
        ('{"Authorization": "Bearer\\tBearer abc123def"}', '{"Authorization": "[bearer_token]"}'),
        (f"Authorization: Basic Basic {BASIC}", "Authorization: [basic_auth]"),
        (f"Authorization: Basic BASIC {BASIC}\r\n", "Authorization: [basic_auth]\r\n"),
    ],
)
def test_a_scheme_named_twice_keeps_no_token(text: str, expected: str) -> None:
    """The token after a second Bearer or Basic is replaced with the names."""
    assert redact_text(text)[0] == expected
    assert ONE_BY_ONE.redact(text)[0] == expected


@pytest.mark.parametrize("text", ["Bearer Bearer", "Bearer Bearer abc", "Basic Basic idea"])
def test_the_names_alone_stay(text: str) -> None:
    """The scheme's names with no token (or a word too short to be one) stay."""
    assert redact_text(text) == (text, {})


_WORDS = st.sampled_from(
    [
        "Bearer", "bearer", "BEARER", "Basic", "basic", "abc123", "YTpi", "abc", "xbearer",
        "Bearer\\t", "Basic\\t", "é", "a@b.io", "-u a:b", "",
    ]
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(
        st.tuples(_WORDS, st.sampled_from([" ", " ", " ", " ", "\t", "\n", "  ", ""])),
        max_size=40,
    )
)
def test_runs_of_repeated_scheme_names_read_as_value_by_value(
    pieces: list[tuple[str, str]],
) -> None:
    """Scheme names and tokens in any order come out as each value read alone: a run of
    bearer or Basic values leaves a token that is the scheme's name to the scan."""
    text = "".join(value + separator for value, separator in pieces)
    assert DEFAULT.redact(text) == ONE_BY_ONE.redact(text), text
    many = [text, text[1:], "x " + text]
    assert DEFAULT.redact_many(many) == ONE_BY_ONE.redact_many(many), text


@pytest.mark.parametrize(
    "unit",
    [
        "Bearer abc123 Bearer Bearer abc123 ",
        "Bearer abc123 " * 20 + "Bearer Bearer ",
        "Basic YTpi " * 20 + "Basic Basic YTpi ",
        "Bearer abc123 Bearer xbearer ",
    ],
)
def test_runs_cut_by_a_repeated_name_are_redacted_as_one_by_one(unit: str) -> None:
    """Long runs cut again and again by a token that is the scheme's name."""
    text = unit * 200 + "end"
    assert DEFAULT.redact(text) == ONE_BY_ONE.redact(text)
