"""Bearer tokens percent-encoded (``abc%2Bdef``, as a token copied out of a URL or a form
body is): the value stopped at the ``%``, and a token whose first part was shorter than
six characters was not replaced at all."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmguard.redact import DEFAULT, Patterns

ONE_BY_ONE = Patterns(
    {
        name: (re.compile(f"(?:{pattern.pattern})", re.A), validator)
        for name, (pattern, validator) in DEFAULT.patterns.items()
    }
)


@pytest.mark.parametrize(
    "token", ["abc%2Bdef123", "x%2F9kQ%3D%3D", "ya29.a0Af%2Bb_c-d~e", "abcdef123%3D"]
)
def test_a_percent_encoded_bearer_token_is_replaced_whole(token: str) -> None:
    """The whole token is replaced, not its head up to the first ``%``."""
    text = f"Authorization: Bearer {token}\n"
    assert DEFAULT.redact(text) == ("Authorization: [bearer_token]\n", {"bearer_token": 1})


@pytest.mark.parametrize("text", ["Bearer 100%", "Bearer tokens are 50% of it", "bearer%20abc"])
def test_prose_with_percent_signs_stays(text: str) -> None:
    """A short word, or words of letters, after Bearer stay."""
    assert DEFAULT.redact(text) == (text, {})


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Bearer ", "bearer\t", "Bearer  "]),
            st.text("abcXY019%._~+/-=:", min_size=1, max_size=14),
            st.sampled_from([" ", " ", "\n", "\\n", ""]),
        ).map("".join),
        min_size=1,
        max_size=12,
    )
)
def test_bearer_tokens_with_percent_signs_come_out_as_read_one_by_one(pieces: list[str]) -> None:
    """Runs of such tokens, rejected and accepted, come out as read one by one."""
    text = "".join(pieces)
    assert DEFAULT.redact(text) == ONE_BY_ONE.redact(text)
    many = [text, "x " + text]
    assert DEFAULT.redact_many(many) == ONE_BY_ONE.redact_many(many)


@pytest.mark.parametrize("unit", ["Bearer %%%%%% ", "Bearer a%2Bbcdef ", "Bearer %"])
def test_floods_of_percent_tokens_take_linear_work(unit: str) -> None:
    """Eight times the text costs at most about eight times the RE2 calls and bytes."""
    from tests.reliability.test_s9_redact_runs import _assert_linear_work

    _assert_linear_work(unit)
