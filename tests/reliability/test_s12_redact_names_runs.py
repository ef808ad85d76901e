"""Runs of name=value pairs (``password=a password: b``, ``api_key=x secret: y``) read in
one RE2 match: the same replacements as an engine reading each value alone, and linear
work on floods of them."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from llmguard.redact import DEFAULT, Patterns
from tests._helpers.redaction import assert_linear_work, work

# The default kinds, each pattern in a group of its own: the same matches, but not
# llmguard's own patterns to the engine, which then reads every value one by one.
ONE_BY_ONE = Patterns(
    {
        name: (re.compile(f"(?:{pattern.pattern})", re.A), validator)
        for name, (pattern, validator) in DEFAULT.patterns.items()
    }
)

NAMES = st.sampled_from(
    [
        "password", "Password", "DB_PASSWORD", "passwd", "pwd", "passphrase", "pass", "bypass",
        "secret", "api_key", "apiKey", "GITHUB_TOKEN", "X_PAT", "cookie", "token", "max_tokens",
        "password_hint", "user", "mysql", "login",
    ]
)  # fmt: skip
SEPARATORS = st.sampled_from(["=", ": ", ":", " = ", "=>", ":=", "= "])
VALUES = st.one_of(
    st.sampled_from(
        [
            "a", "hunter2", "null", "None", "***", "true", "x,", "x)", "a@b.io", "-px", "f()",
            "sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e", "4111111111111111", "a=b", ":x", ">x", "=x",
            "a%22b", "a<b", "[x]", "'q'", "é", "",
        ]
    ),
    st.text("ab1=:@.*+/-_!", min_size=1, max_size=8),
)  # fmt: skip
GAPS = st.sampled_from([" ", " ", " ", "  ", "\t", "\n", "", " x ", " & ", "; "])
PAIRS = st.tuples(NAMES, SEPARATORS, VALUES, GAPS).map("".join)


def _same_as_one_by_one(text: str) -> None:
    assert DEFAULT.redact(text) == ONE_BY_ONE.redact(text), text
    many = [text, text[1:], "x " + text]
    assert DEFAULT.redact_many(many) == ONE_BY_ONE.redact_many(many), text


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["", "x ", "\n", "say: "]), st.lists(PAIRS, min_size=1, max_size=25))
@example("x ", ["password=a ", "password: null ", "password=b ", "secret=c\n"])
@example("x ", ["password=a ", "password=sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e ", "pwd=b "])
@example("x ", ["api_key=a ", "secret: a@b.io ", "GITHUB_TOKEN=x ", "cookie=y "])
@example("x ", ["password=a ", "mysql=x ", "pwd=-px ", "pass=q "])
def test_pair_runs_read_as_one_by_one(head: str, pairs: list[str]) -> None:
    """Any mix of names, separators and values: the same text and counts either way."""
    _same_as_one_by_one(head + "".join(pairs))


def test_a_pair_run_reads_in_few_calls() -> None:
    """A thousand pairs of one kind after a first value: a few RE2 calls, not one a value."""
    text = "x password=a " + "password=b DB_PASSWORD: c " * 500
    assert DEFAULT.redact(text)[1] == {"password": 1001}
    calls, _ = work(lambda: DEFAULT.redact(text))
    assert calls < 100, calls


@pytest.mark.parametrize(
    "unit", ["password=a password: b ", "api_key=abc secret: def ", "pwd=x pwd=null "]
)
def test_pair_floods_take_linear_work(unit: str) -> None:
    """RE2 calls and bytes read at n and 8n."""
    assert_linear_work(unit, 4096, head="x ")


LINE_NAMES = st.sampled_from(
    [
        "password", "DB_PASSWORD", "pwd", "db.pass", "pass", "secret", "api_key", "GITHUB_TOKEN",
        "HF_TOKEN", "cookie", "max_tokens", "user", "- password", "  password", "set password",
        "export PASSWORD", "--password",
    ]
)  # fmt: skip
LINE_VALUES = st.one_of(
    VALUES,
    st.sampled_from(
        [
            "a b c", "correct horse battery", "a # note", "x;y&z", "|", ">-", '"q"', "'q'",
            "get_password()", "os.environ['X']", "[a, b]", "{a: 1}", "abc,", "a  ", "\\n",
            "sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e", "null", "***", "a@b.io x", "4111111111111111",
        ]
    ),
    st.text("ab1 =:@.*+/-_!#;,)", min_size=1, max_size=10),
)  # fmt: skip
LINES = st.tuples(
    st.sampled_from(["\n", "\n", "\r\n", "\n\n"]), LINE_NAMES, SEPARATORS, LINE_VALUES
).map("".join)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["", "x ", "password: a", "[s]"]), st.lists(LINES, min_size=1, max_size=25))
@example("password: a", ["\npassword: b c", "\npassword: null", "\nGITHUB_TOKEN=x", "\npwd=y"])
@example("x ", ["\nsecret: a", "\napi_key: sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e", "\nsecret: b"])
@example("password: a", ["\npassword: |", "\n  folded", "\npassword: f()", "\npwd: [x]"])
def test_settings_line_runs_read_as_one_by_one(head: str, lines: list[str]) -> None:
    """Any mix of settings lines, names and values: the same text and counts either way."""
    _same_as_one_by_one(head + "".join(lines) + "\n")


@pytest.mark.parametrize("unit", ["password: a b c\n", "GITHUB_TOKEN=x\n", "secret: null\n"])
def test_settings_line_floods_take_linear_work(unit: str) -> None:
    """RE2 calls and bytes read at n and 8n."""
    assert_linear_work(unit, 4096, head="x ")


def test_a_settings_line_run_reads_in_few_calls() -> None:
    """A thousand settings lines of one kind after a first value: a few RE2 calls."""
    text = "x password=a" + "\npassword: b c\nDB_PASSWORD=d" * 500 + "\n"
    assert DEFAULT.redact(text)[1] == {"password": 1001}
    calls, _ = work(lambda: DEFAULT.redact(text))
    assert calls < 100, calls
