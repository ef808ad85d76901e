"""Values right after a JSON string's escape (``\\n``, ``\\t``, ``\\r``, ``\\u00a0``): text
that holds JSON -- a tool call's arguments, an answer in JSON mode, a pasted payload --
writes a line break as a backslash and an ``n``, which glued the next value to a letter,
and every kind but emails went to the sinks whole."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard.redact import DEFAULT, Patterns

ONE_BY_ONE = Patterns(
    {
        name: (re.compile(f"(?:{pattern.pattern})", re.A), validator)
        for name, (pattern, validator) in DEFAULT.patterns.items()
    }
)

SAMPLES = {
    "phone": ["+14155552671", "+1 415 555 2671", "(415) 555-2671", "020 7946 0958"],
    "card": ["4111111111111111", "4111 1111 1111 1111"],
    "ssn": ["078-05-1120"],
    "email": ["ann@example.com"],
    "api_key": ["sk-" + "a1" * 12],
    "aws_access_key": ["AKIAIOSFODNN7EXAMPLE"],
    "github_token": ["ghp_" + "A1" * 18],
    "bearer_token": ["Bearer abc123xyz"],
    "iban": ["GB82 WEST 1234 5698 7654 32"],
    "telegram_bot_token": ["110201543:AAHdqTcvCH1vGWJxfSe1ofSAs0K5PALDsaw"],
    "jwt": ["eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl"],
    "private_key": ["-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----"],
}
CASES = [(kind, value) for kind, values in SAMPLES.items() for value in values]
ESCAPED = ["\n", "\t", "\r", "\u00a0", "\u2028"]  # json.dumps writes each as an escape


@pytest.mark.parametrize("before", ESCAPED)
@pytest.mark.parametrize(("kind", "value"), CASES)
def test_a_value_after_an_escape_in_json_is_replaced(kind: str, value: str, before: str) -> None:
    """The value is replaced, the escape before it kept: the JSON still reads, and holds
    the replacement where the value stood."""
    text = json.dumps({"notes": f"contact{before}{value}{before}thanks"})
    redacted, counts = DEFAULT.redact(text)
    assert counts == {kind: 1}
    assert json.loads(redacted) == {"notes": f"contact{before}[{kind}]{before}thanks"}


def test_a_tool_calls_arguments_in_a_record_are_redacted() -> None:
    """A record's output holding a tool call whose arguments are a JSON string, as the
    OpenAI SDK hands them back."""
    arguments = json.dumps({"to": "Ann\n+1 415 555 2671", "card": "on file:\n4111111111111111"})
    record = lg.Record(
        trace_id="t" * 32, span_id="s" * 16, name="call", start="s", end="e",
        duration_ms=1.0, output={"tool_calls": [{"function": {"arguments": arguments}}]},
    )  # fmt: skip
    for redacted in (DEFAULT(record), DEFAULT.redact_records([record, record])[1]):
        assert redacted.output is not None
        sent = json.loads(redacted.output["tool_calls"][0]["function"]["arguments"])
        assert sent == {"to": "Ann\n[phone]", "card": "on file:\n[card]"}


VALUES = st.sampled_from([value for _, value in CASES] + ["a@b.co", "+1 415", "+12345678"])
GAPS = st.sampled_from(["\\n", "\\t", "\\r", "\\u00a0", "\\\\n", "\\", "\\n ", " ", "\\nn", "\\x"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(VALUES, GAPS), min_size=1, max_size=20))
def test_values_between_escapes_come_out_as_read_one_by_one(
    pieces: list[tuple[str, str]],
) -> None:
    """Values with escapes (and near misses of escapes) between them: the engine with its
    runs and shortcuts replaces what reading each value alone replaces."""
    text = "".join(value + gap for value, gap in pieces)
    assert DEFAULT.redact(text) == ONE_BY_ONE.redact(text)
    many = [text, text[1:], "x\\n" + text]
    assert DEFAULT.redact_many(many) == ONE_BY_ONE.redact_many(many)


@pytest.mark.parametrize(
    "unit", ["\\n+1 415 ", "\\u00a0+12345678", "\\n", "\\u00a", "\\nsk-", "\\n4111111111111112 "]
)
def test_floods_of_escapes_take_linear_work(unit: str) -> None:
    """Escapes before values and near misses, repeated: eight times the text costs at most
    about eight times the RE2 calls and bytes read."""
    from tests.reliability.test_s9_redact_runs import _assert_linear_work

    _assert_linear_work(unit)
