"""Tests for llmguard.redact: the default patterns, the Patterns redactor, end to end."""

from __future__ import annotations

import dataclasses
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard.redact import DEFAULT, METADATA_KEY, Patterns, redact_text
from llmguard.sinks import MemorySink
from llmguard.testing import capture

OPENAI_KEY = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
ANTHROPIC_KEY = "sk-ant-api03-Zx9yW8vU7tS6rQ5pO4nM3lK2jI1hG0fE-dCbA_98765"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
CARD = "4111 1111 1111 1111"


def make_record(**fields: object) -> lg.Record:
    """A minimal finished record with the given content."""
    base: dict[str, object] = {
        "trace_id": "t" * 32,
        "span_id": "s" * 16,
        "name": "call",
        "start": "2026-01-01T00:00:00.000000Z",
        "end": "2026-01-01T00:00:01.000000Z",
        "duration_ms": 1000.0,
    }
    return lg.Record(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (OPENAI_KEY, "api_key"),
        ("sk-" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2w3X4", "api_key"),
        (ANTHROPIC_KEY, "api_key"),
        ("AKIAIOSFODNN7EXAMPLE", "aws_access_key"),
        ("ASIAY34FZKBOKMUTVV7A", "aws_access_key"),
        (JWT, "jwt"),
        ("Bearer abc.def", "bearer_token"),
        ("jane.doe+tag@example.co.uk", "email"),
        ("ops@mail.example.com", "email"),
        ("+44 20 7946 0958", "phone"),
        ("+1 (415) 555-2671", "phone"),
        ("+33612345678", "phone"),
        ("(415) 555-2671", "phone"),
        ("415-555-2671", "phone"),
        ("020 7946 0958", "phone"),
        ("06 12 34 56 78", "phone"),
        (CARD, "card"),
        ("4111-1111-1111-1111", "card"),
        ("5555555555554444", "card"),
        ("GB82 WEST 1234 5698 7654 32", "iban"),
        ("DE89370400440532013000", "iban"),
    ],
)
def test_each_default_kind_is_replaced(text: str, kind: str) -> None:
    """Every kind DEFAULT covers is replaced by its marker inside surrounding text."""
    redacted, counts = redact_text(f"before {text} after.")
    assert redacted == f"before [{kind}] after."
    assert counts == {kind: 1}


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 1112",
        "GB82 WEST 1234 5698 7654 33",
        "in 2024 order 12345678 shipped on 2024-01-15, v1.2.3",
        "0000 0000 0000 0000",
        "the bearer of bad news",
        "sk-learn-is-a-python-package-name",
        "version 10.0.19045 build 22631",
        "dated 01.02.2024",
    ],
)
def test_lookalikes_are_kept(text: str) -> None:
    """Luhn-invalid cards, mod-97-invalid IBANs, years, ids and prose are not replaced."""
    assert redact_text(text) == (text, {})


def test_redact_text_counts_every_match_and_takes_custom_patterns() -> None:
    """Counts add up per kind; a plain mapping of patterns works as well as Patterns."""
    text, counts = redact_text("a@x.io, b@y.io and " + OPENAI_KEY)
    assert text == "[email], [email] and [api_key]"
    assert counts == {"email": 2, "api_key": 1}
    assert redact_text("id 123-45-6789", {"ssn": r"\b\d{3}-\d{2}-\d{4}\b"}) == (
        "id [ssn]",
        {"ssn": 1},
    )


def test_patterns_use_validators_replacement_and_extend_default() -> None:
    """A (regex, validator) pair is honoured, {kind} fills the replacement, DEFAULT extends."""
    even = Patterns({"even": (r"\d+", lambda m: int(m) % 2 == 0)}, replacement="<{kind}>")
    assert even.redact("1 2 3 4") == ("1 <even> 3 <even>", {"even": 2})
    extended = Patterns({**DEFAULT.patterns, "ticket": re.compile(r"\bTICKET-\d+\b")})
    assert extended.redact("TICKET-42 from a@b.io") == (
        "[ticket] from [email]",
        {
            "ticket": 1,
            "email": 1,
        },
    )
    with pytest.raises(ValueError, match="kind"):
        Patterns({"x": "x"}, replacement="[{name}]")


def test_nested_content_is_redacted_and_keys_are_untouched() -> None:
    """Strings inside lists and dicts are redacted at any depth; dict keys are kept."""
    record = make_record(
        input={"messages": [{"role": "user", "content": f"mail me: a@b.io, key {OPENAI_KEY}"}]},
        output=["fine", {"a@b.io": ("call +44 20 7946 0958", 7, None, True)}],
    )
    redacted = DEFAULT(record)
    assert redacted.input == {
        "messages": [{"role": "user", "content": "mail me: [email], key [api_key]"}]
    }
    assert redacted.output == ["fine", {"a@b.io": ("call [phone]", 7, None, True)}]


def test_metadata_records_kinds_and_counts_never_values() -> None:
    """metadata["llmguard.redacted"] holds counts by kind, and no redacted value anywhere."""
    record = make_record(
        input="a@b.io and c@d.io",
        output=CARD,
        metadata={"user": "e@f.io", "n": 3},
    )
    redacted = DEFAULT(record)
    assert redacted.metadata[METADATA_KEY] == {"email": 3, "card": 1}
    assert redacted.metadata["user"] == "[email]"
    assert redacted.metadata["n"] == 3
    dumped = redacted.to_json().decode()
    for value in ("a@b.io", "c@d.io", "e@f.io", CARD):
        assert value not in dumped


def test_counts_merge_with_an_earlier_redactor() -> None:
    """Two Patterns redactors in a row add their counts together."""
    record = DEFAULT(make_record(input="a@b.io"))
    record = dataclasses.replace(record, output="x@y.io")
    again = Patterns({"email": r"x@y\.io"})(record)
    assert again.metadata[METADATA_KEY] == {"email": 2}


def test_error_message_and_attempt_errors_are_redacted() -> None:
    """The error message and the values in an attempt's validation errors are redacted."""
    record = make_record(
        kind="attempt",
        status="error",
        error_message=f"401 for key {OPENAI_KEY}",
        attempt={
            "number": 1,
            "errors": [{"path": "$.email", "message": "bad", "value": "'a@b.io'"}],
        },
    )
    redacted = DEFAULT(record)
    assert redacted.error_message == "401 for key [api_key]"
    assert redacted.attempt is not None
    assert redacted.attempt["errors"] == [
        {"path": "$.email", "message": "bad", "value": "'[email]'"}
    ]
    assert redacted.attempt["number"] == 1
    assert redacted.metadata[METADATA_KEY] == {"api_key": 1, "email": 1}


def test_untouched_record_is_returned_as_the_same_object() -> None:
    """A record with nothing to redact comes back as the very same object."""
    record = make_record(
        input={"prompt": "hello", "n": [1, 2024, 3.5]},
        output="world",
        error_message="timeout after 30s",
        metadata={"k": "v"},
        attempt={"number": 1, "errors": [{"path": "$", "message": "m", "value": "1"}]},
    )
    assert DEFAULT(record) is record


def test_default_settings_redact_before_every_sink() -> None:
    """With default settings a traced prompt's key, email and card never reach a sink."""
    memory = MemorySink()
    lg.configure(sinks=[memory])

    @lg.trace
    def ask(prompt: str) -> str:
        return "ok"

    prompt = f"use {OPENAI_KEY}, mail jane@example.com, pay with {CARD}"
    with capture() as captured:
        ask(prompt)
    lg.flush(timeout=5)
    for records in (captured, memory.records):
        (record,) = [r for r in records if r.name.endswith("ask")]
        dumped = record.to_json().decode()
        for secret in (OPENAI_KEY, "jane@example.com", CARD):
            assert secret not in dumped
        assert "use [api_key], mail [email], pay with [card]" in dumped
        assert record.metadata[METADATA_KEY] == {"api_key": 1, "email": 1, "card": 1}


_SECRETS = st.sampled_from(
    [
        OPENAI_KEY,
        ANTHROPIC_KEY,
        JWT,
        CARD,
        "a@b.io",
        "+44 20 7946 0958",
        "Bearer abc.def",
        "GB82 WEST 1234 5698 7654 32",
        "(415) 555-2671",
        "AKIAIOSFODNN7EXAMPLE",
    ]
)
_TEXT = st.lists(
    st.one_of(st.text(max_size=30), st.text("0123456789 -+().@abAZ", max_size=30), _SECRETS),
    max_size=6,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_redaction_never_raises_and_is_idempotent(text: str) -> None:
    """Arbitrary text never makes redaction raise, and redacting twice equals once."""
    once, _ = redact_text(text)
    twice, counts = redact_text(once)
    assert twice == once
    assert counts == {}
    record = make_record(input={"text": text})
    assert DEFAULT(DEFAULT(record)).input == DEFAULT(record).input


@pytest.mark.parametrize(
    "text",
    ["1" * 50_000, "1 " * 25_000, "a." * 20_000 + "@x", "a@" + "a." * 20_000, "+1 " * 10_000],
)
def test_long_pathological_text_is_redacted_quickly(text: str) -> None:
    """Long runs of digits, dots or separators take linear time, not backtracking time."""
    started = time.perf_counter()
    redact_text(text)
    assert time.perf_counter() - started < 1.0
