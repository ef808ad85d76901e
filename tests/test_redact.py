"""Tests for llmguard.redact: the default patterns, the Patterns redactor, end to end."""

from __future__ import annotations

import dataclasses
import itertools
import random
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar
from unittest import mock

import pytest
from hypothesis import example, given, settings
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
GITHUB_FINE_GRAINED = "github_pat_11ABCDEFG0aBcDeFgHiJkLmN_" + "x9Y8z7W6v5U4t3S2r1Q0" * 3
RSA_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "c3VwZXIgZHVwZXIgc2VjcmV0IHBhc3N3b3JkLCBzdXBlciBkdXBlciBzZ\n"
    "WNyZXQgcGFzc3dvcmQhMTIzNCMkJQpzdXBlciBkdXBlciBzZWNyZXQgcGFzc3\n"
    "-----END RSA PRIVATE KEY-----"
)
UNSIGNED_JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ"
)


_Test = TypeVar("_Test", bound=Callable[..., Any])


def _examples(*cases: object) -> Callable[[_Test], _Test]:
    """`hypothesis.example` for each case of a one-argument property, in the order given."""

    def apply(test: _Test) -> _Test:
        for case in reversed(cases):
            test = example(case)(test)
        return test

    return apply


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
        # detect-secrets' plugin examples
        ("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", "github_token"),
        (GITHUB_FINE_GRAINED, "github_token"),
        ("xoxp-523423-234243-234233-e039d02840a0b9379c", "slack_token"),
        ("xoxb-34532454-e039d02840a0b9379c", "slack_token"),
        ("xoxa-2-511111111-31111111111-3111111111111-e039d02840a0b9379c", "slack_token"),
        (
            "https://hooks.slack.com/services/Txxxxxxxx/Bxxxxxxxx/xxxxxxxxxxxxxxxxxxxxxxxx",
            "slack_token",
        ),
        ("sk_live_ReTllpYQYfIZu2Jnf2lAPFjD", "stripe_key"),
        ("rk_live_5TcWfjKmJgpql9hjpRnwRXbT", "stripe_key"),
        ("AIzaSyA-1234567890abcdefghijklmnopqrstu", "google_api_key"),
        ("AKIAZZZZZZZZZZZZZZZZ", "aws_access_key"),
        (RSA_KEY, "private_key"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n"
            "-----END OPENSSH PRIVATE KEY-----",
            "private_key",
        ),
        (UNSIGNED_JWT, "jwt"),
        ("ghs_wWPw5k4aXcaT4fNP0UcnZwJUVFk6LO0pINUx", "github_token"),
        ("sk_test_4eC39HqLyjWDarjtT1zdp7dc", "stripe_key"),
        ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "slack_token"),
        # Presidio's recognizer examples
        ("info@presidio.site", "email"),
        ("+1 415 555 0132", "phone"),
        ("(415) 555-0132", "phone"),
        ("+14155552671", "phone"),
        ("536-90-4399", "ssn"),
        ("4012888888881881", "card"),
        ("4012-8888-8888-1881", "card"),
        ("4012 8888 8888 1881", "card"),
        ("371449635398431", "card"),
        ("30569309025904", "card"),
        ("6011000400000000", "card"),
        ("3528000700000000", "card"),
        ("AL47 2121 1009 0000 0002 3569 8741", "iban"),
        ("BR97 0036 0305 0000 1000 9795 493P 1", "iban"),
        ("MT84 MALT 0110 0001 2345 MTLC AST0 01S", "iban"),
        ("NO9386011117947", "iban"),
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
        "4012-8888-8888-1882",
        "36168002586008",
        "AL47 2121 1009 0000 0002 3569 8740",
        "mail info@presidio.",
        "pk_live_j5krY8XTgIcDaHDb3YrsAfCl",
        "sk_live_",
        "foo_wWPw5k4aXcaT4fNP0UcnZwJUVFk6LO0pINUx",
        "akiazzzzzzzzzzzzzzzz and AKIAZZZ",
        "eyJAAAA.eyJBBB and eyJBB.eyJCC.eyJDDDD",
        "666-12-3456 and 123-00-4567",
        "task-sk-learn-pipeline-2024-v2",
    ],
)
def test_lookalikes_are_kept(text: str) -> None:
    """Luhn-invalid cards, mod-97-invalid IBANs, years, ids and prose are not replaced."""
    assert redact_text(text) == (text, {})


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        # detect-secrets' BasicAuthDetector examples
        ("https://username:password@yelp.com", "https://username:[url_password]@yelp.com"),
        ("http://localhost:5000/<%= @variable %>", None),
        ('"https://url:8000";@something else', None),
        ("'https://url:8000';@something else", None),
        ("https://url:8000 @something else", None),
        ("https://url:8000/ @something else", None),
        # connection strings
        ("postgres://admin:s3cr3t-P4ss@db:5432/app", "postgres://admin:[url_password]@db:5432/app"),
        ("redis://:hunter2@cache:6379/0", "redis://:[url_password]@cache:6379/0"),
    ],
)
def test_the_password_of_a_url_is_replaced(text: str, redacted: str | None) -> None:
    """The password in scheme://user:password@host goes; the user, host and the rest stay."""
    expected = text if redacted is None else redacted
    assert redact_text(text)[0] == expected
    assert redact_text(expected) == (expected, {})


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


def test_nested_content_and_dictionary_keys_are_redacted() -> None:
    """Strings inside lists and dicts are redacted at any depth, dict keys too."""
    record = make_record(
        input={"messages": [{"role": "user", "content": f"mail me: a@b.io, key {OPENAI_KEY}"}]},
        output=["fine", {"a@b.io": ("call +44 20 7946 0958", 7, None, True)}],
    )
    redacted = DEFAULT(record)
    assert redacted.input == {
        "messages": [{"role": "user", "content": "mail me: [email], key [api_key]"}]
    }
    assert redacted.output == ["fine", {"[email]": ("call [phone]", 7, None, True)}]


def test_keys_that_redact_alike_keep_every_value() -> None:
    """Two keys that both become "[email]" keep both values, the second under a suffix."""
    redacted = DEFAULT(make_record(input={"a@b.io": 1, "c@d.io": 2, "[email] (2)": 3}))
    assert redacted.input == {"[email]": 1, "[email] (2)": 2, "[email] (2) (2)": 3}
    assert redacted.metadata[METADATA_KEY] == {"email": 2}


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


def test_every_string_of_a_record_is_redacted() -> None:
    """Name, tags, model and every other text field, attempt and limits keys and values."""
    email = "jane.doe@example.com"
    record = make_record(
        name=f"refund {email}",
        kind="llm",
        status="error",
        error_type=f"app.Error_{email}",
        error_message=f"no user {email}",
        service=f"svc {email}",
        model=f"gpt {email}",
        provider=f"via {email}",
        prompt_name=f"p {email}",
        prompt_version=f"v {email}",
        price_table=f"t {email}",
        finish_reason=f"stop {email}",
        tags=("prod", email),
        attempt={"number": 1, email: "x", "repair": [email]},
        limits={"tripped": email, email: 1},
        metadata={email: "vip", "note": {email: email}},
    )
    redacted = DEFAULT(record)
    assert email not in redacted.to_json().decode()
    assert redacted.name == "refund [email]"
    assert redacted.tags == ("prod", "[email]")
    assert redacted.limits == {"tripped": "[email]", "[email]": 1}
    assert redacted.metadata[METADATA_KEY] == {"email": 18}


@pytest.mark.parametrize(
    ("number", "kind"),
    [(4111111111111111, "card"), (14155552671, "phone"), (4155552671, "phone")],
)
def test_integers_that_are_card_or_phone_numbers_become_markers(number: int, kind: str) -> None:
    """An integer whose digits are a card or phone number is replaced by its marker."""
    redacted = DEFAULT(make_record(input={"n": number, number: "key"}, output=[number]))
    assert redacted.input == {"n": f"[{kind}]", f"[{kind}]": "key"}
    assert redacted.output == [f"[{kind}]"]
    assert redacted.metadata[METADATA_KEY] == {kind: 3}


def test_other_integers_are_kept() -> None:
    """Counts, years, timestamps in seconds or milliseconds and booleans stay numbers."""
    values = [3, 2024, 1_700_000_000, 1_700_000_000_123, 4111111111111112, True, -4111111111111111]
    record = make_record(input=values)
    assert DEFAULT(record) is record


def test_a_field_that_is_a_phone_number_alone_is_redacted() -> None:
    """Digits alone in a string (or a line) read as a phone; inside prose they do not."""
    assert redact_text("4155552671") == ("[phone]", {"phone": 1})
    assert redact_text("call:\n14155552671\nnow") == ("call:\n[phone]\nnow", {"phone": 1})
    assert redact_text("order 4155552671 shipped") == ("order 4155552671 shipped", {})


def test_values_glued_together_are_all_replaced() -> None:
    """Right after a replaced value another may start: glued keys and emails all go."""
    glued = OPENAI_KEY + ",a@b.io" + "+14155552671" * 3
    assert redact_text(glued) == (
        "[api_key],[email][phone]",
        {"api_key": 1, "email": 1, "phone": 1},
    )


def test_a_secret_group_replaces_only_the_value() -> None:
    """The group named secret is the value; what the pattern matches around it stays."""
    token = Patterns({"token": r"token=(?P<secret>\w{8,})"})
    assert token.redact("url?token=abcdef123&x=1") == ("url?token=[token]&x=1", {"token": 1})


def test_a_pattern_re2_cannot_run_runs_with_re() -> None:
    """A lookbehind (no RE2 syntax) still works, in a pass of Python's re after the rest."""
    patterns = Patterns({"id": r"(?<=id:)\d+", **DEFAULT.patterns})
    assert patterns.redact("id:42 and a@b.io") == ("id:[id] and [email]", {"id": 1, "email": 1})
    with pytest.raises(re.error):
        Patterns({"bad": "(unclosed"})


def test_a_prefilter_skips_text_without_its_match() -> None:
    """Text the prefilter finds nothing in is returned as it is."""
    patterns = Patterns({"even": (r"\d+", lambda m: int(m) % 2 == 0)}, prefilter="[02468]")
    assert patterns.redact("1 3 5") == ("1 3 5", {})
    assert patterns.redact("1 2 3") == ("1 [even] 3", {"even": 1})


def test_text_that_is_not_ascii_or_holds_lone_surrogates_is_redacted() -> None:
    """Accents, emoji and lone surrogates around secrets stay; the secrets go."""
    text = "caf\u00e9 \u00aba@b.io\u00bb \ud83d\ude00 \ud800 +44 20 7946 0958\udfff"
    assert redact_text(text) == (
        "caf\u00e9 \u00ab[email]\u00bb \ud83d\ude00 \ud800 [phone]\udfff",
        {"email": 1, "phone": 1},
    )


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
        "+14155552671",
        "536-90-4399",
        "020 7946 0958",
        "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",
        RSA_KEY,
        "4155552671",
        "https://u:pw@h.io",
        "020 7946 0958 020 7946 0958",
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


@pytest.mark.xfail(
    strict=True,
    reason="known gap: a split phone run reads 64 characters ahead, into a card that a "
    "second pass no longer sees as digits",
)
def test_a_phone_run_split_before_a_card_redacts_the_same_twice() -> None:
    """Found by the property above: the second number of a run too long for one is
    read on into the card after it, and judged too long; once the card is replaced,
    the same digits are two numbers. Both passes keep the card's digits out; they
    differ on digit soup only. Fixing it needs the splitter to stop where another
    kind's value starts, which it cannot know when it runs."""
    once, _ = redact_text("00000 00 00 00000 0000.0020 4076 0408 54")
    assert redact_text(once)[0] == once


# 80 generated examples (was 200), after strings holding one value, several, none, and
# values at a string's start and end, in ASCII and not.
@settings(max_examples=80, deadline=None)
@given(st.lists(_TEXT, max_size=5))
@example(["mail a@b.io now", "a@b.io", "call +14155552671 or c@d.io, then e@f.io.", "", "x"])
@example(["é a@b.io é", "+14155552671 é b@c.io", "4111 1111 1111 1111é", "no value"])
def test_strings_redacted_together_come_out_as_each_alone(texts: list[str]) -> None:
    """A record's strings, redacted in one search, equal each string redacted alone."""
    alone = [redact_text(text) for text in texts]
    redacted = DEFAULT(make_record(input=texts))
    assert redacted.input == [text for text, _ in alone] or redacted.input is texts
    counts: dict[str, int] = {}
    for _, found in alone:
        for kind, count in found.items():
            counts[kind] = counts.get(kind, 0) + count
    assert redacted.metadata.get(METADATA_KEY, {}) == counts


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_text_that_is_not_ascii_is_read_alike(text: str) -> None:
    """After a non-ASCII line (read by RE2 alone), the same values are replaced."""
    redacted, counts = redact_text(text)
    assert redact_text("\u00e9\n" + text) == ("\u00e9\n" + redacted, counts)


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("0000 0000 0000 0000 0000 0000 0000 0000", "0000 0000 0000 0000 0000 [phone]"),
        (
            "+23 4111 1111 1111 82é020 794609: 0000 0000 0000 11 4111 1111 1111 1111",
            "+23 4111 1111 1111 82é[phone]: 0000 0000 0000 11 [card]",
        ),
    ],
)
def test_a_line_reads_the_same_alone_after_itself_and_in_a_batch(text: str, redacted: str) -> None:
    """What came before a line (an accepted value, another line) changes nothing in it.

    Five groups are too long for a phone number, so the kind is hidden until they end:
    the three groups after them are one. A card after a rejected one is found although
    a phone number's rejected match, hiding that kind, ends past it.
    """
    assert redact_text(text)[0] == redacted
    assert redact_text(f"{text}\n{text}")[0] == f"{redacted}\n{redacted}"
    assert redact_text(f"a@b.io {text}")[0] == f"[email] {redacted}"
    assert DEFAULT.redact_many([text, text]) == [redacted, redacted]


_NEAR_MISSES = [
    "4111 1111 1111 1112", "4111111111111112", "0000 0000 0000 0000", "+1 2 3", "a@b.io",
    "sk-ghp_AKIAeyJxoxb-Bearer", "020 7946 0958 1234", "078-05-1120", "GB82 WEST 1234",
]  # fmt: skip
_FORGETFUL = Patterns(DEFAULT.patterns)  # compiled by `re` here: read with no first-byte hints


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(_TEXT, st.sampled_from(_NEAR_MISSES)), min_size=1, max_size=4),
    st.integers(min_value=1, max_value=5),
)
def test_remembered_answers_change_nothing(pieces: list[str], repeats: int) -> None:
    """Repeated candidates come out as a redactor that remembers nothing reads them.

    The default redactor remembers what it read and decided, from this text and earlier
    ones; one whose memos forget at once is the reference.
    """
    text = (" ".join(pieces) + "\n") * repeats
    with mock.patch("llmguard.redact._search.MEMO_SIZE", 0):  # every memo forgets at once
        expected = _FORGETFUL.redact(text)
        expected_many = _FORGETFUL.redact_many([text, text[1:]])
    assert DEFAULT.redact(text) == expected
    assert DEFAULT.redact_many([text, text[1:]]) == expected_many


@pytest.mark.parametrize(
    "text",
    ["1" * 50_000, "1 " * 25_000, "a." * 20_000 + "@x", "a@" + "a." * 20_000, "+1 " * 10_000],
)
def test_long_pathological_text_is_redacted_quickly(text: str) -> None:
    """Long runs of digits, dots or separators take linear time, not backtracking time."""
    started = time.perf_counter()
    redact_text(text)
    assert time.perf_counter() - started < 1.0


_CONTENT = st.recursive(
    st.one_of(_TEXT, st.integers(), st.none(), st.sampled_from([4111111111111111, 14155552671])),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_TEXT, inner, max_size=3)),
    max_leaves=12,
)


# Records holding the hard cases: integers either side of the searched bound, values at
# the end of nested containers, a 20-letter key (as long as a value of letters alone
# can be), records with nothing to replace before and between changed ones.
_HARD_RECORDS = [
    [
        (
            [7, 4111111111111111, 10**9 - 1, 14155552671, "a@b.io", 10**7],
            {"k": [10**8]},
            ["a@b.io"],
        ),
        ({"x": ["ok", "mail a@b.io"], "y": ["z", ["w", "+14155552671"]]}, [["a"], "c@d.io"], []),
    ],
    [
        ({"AKIAIOSFODNNEXAMPLEQ": "a@b.io", "role": "user"}, [{"AKIAIOSFODNNEXAMPLEQ": "y"}], []),
        ("nothing", None, []),
        ({"a": 1}, "a@b.io", ["t"]),
        ("b@c.io", {"b@c.io": "b@c.io"}, ["b@c.io", "x"]),
    ],
]


# 20 generated examples (was 60), after the hard records: records with and without
# values to replace, side by side, whose strings meet at the records' edges.
@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(_CONTENT, _CONTENT, st.lists(_TEXT, max_size=2)), max_size=5))
@_examples(*_HARD_RECORDS)
def test_records_redacted_in_a_batch_come_out_as_each_alone(
    contents: list[tuple[object, object, list[str]]],
) -> None:
    """`redact_records` returns what calling the redactor on each record returns."""
    records = [
        make_record(input=given_input, output=output, tags=tuple(tags), metadata={"k": output})
        for given_input, output, tags in contents
    ]
    batch = DEFAULT.redact_records(records)
    alone = [DEFAULT(record) for record in records]
    assert [r.to_dict() for r in batch] == [r.to_dict() for r in alone]
    for record, redacted in zip(records, batch, strict=True):
        if DEFAULT(record) is record:
            assert redacted is record


@settings(max_examples=150, deadline=None)
@given(st.lists(_TEXT, max_size=6))
def test_redact_many_returns_each_text_as_redact_does(texts: list[str]) -> None:
    """`redact_many` returns each text as `redact` alone would."""
    assert DEFAULT.redact_many(texts) == [DEFAULT.redact(text)[0] for text in texts]


_MARKED = Patterns({"email": DEFAULT.patterns["email"], "d": r"\d{3}"}, replacement="«{kind}»")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text("ab@.x 0123\n", max_size=30), max_size=6))
def test_a_batch_of_ascii_texts_takes_a_non_ascii_replacement_as_each_alone(
    texts: list[str],
) -> None:
    """ASCII strings read together get a non-ASCII replacement as each read alone does."""
    alone = [_MARKED.redact(text) for text in texts]
    assert _MARKED.redact_many(texts) == [new for new, _ in alone]
    records = [make_record(input={"messages": [{"content": text}]}) for text in texts]
    for record, (new, counts) in zip(_MARKED.redact_records(records), alone, strict=True):
        assert record.input == {"messages": [{"content": new}]}
        assert record.metadata.get(METADATA_KEY, {}) == counts


# The default kinds with each pattern in a group of its own: the same matches, but not
# llmguard's own patterns to the engine, which then reads every value one by one.
_ONE_BY_ONE = Patterns(
    {
        name: (re.compile(f"(?:{pattern.pattern})", re.A), validator)
        for name, (pattern, validator) in DEFAULT.patterns.items()
    }
)
_DIGITS = st.text("0123456789", min_size=1, max_size=4)
_RUN_VALUES = st.one_of(
    st.from_regex(r"[a-z0-9._%+'-]{1,5}@[a-z]{1,3}\.(io|co\.uk|x|b-c\.com)", fullmatch=True),
    st.text("0123456789", min_size=11, max_size=21),
    st.lists(st.text("0123456789", min_size=3, max_size=5), min_size=3, max_size=6).map(" ".join),
    st.tuples(st.text("0123456789", min_size=1, max_size=3), st.lists(_DIGITS, max_size=7)).map(
        lambda parts: " ".join(["+" + parts[0], *parts[1]])
    ),
    st.sampled_from([CARD, "4111111111111111", "+1 415 555 0132", "(415) 555-2671", OPENAI_KEY]),
    st.sampled_from(["078-05-1120", "Bearer abc123xyz", "GB82 WEST 1234 5698 7654 32", "é", ""]),
)
_RUN_SEPARATORS = st.sampled_from([" ", " ", " ", " ", "  ", "\n", "\t", ", ", "-", ".", "+", "("])


# Runs holding the hard cases: separators longer than a byte, a digit string too long
# for a card among cards, spaced cards and near misses, phone numbers a splitter must
# cut, emails mixed with phone numbers.
_HARD_RUNS = [
    [("a@b.io", "  "), ("c@d.io", " "), ("e'f@g.co.uk", " "), ("h@i.x", "\n")],
    [("4111111111111111", " "), ("41111111111111110000", " "), ("4111111111111111", " ")],
    [(CARD, " "), (CARD, "  "), ("4111 1111 1111 1112", " "), (CARD, ", "), (CARD, " ")],
    [("+1 415 555 0132", " "), ("+1 2 3", " "), ("+123 4567890123 4567", " "), ("+1", " ")],
    [("a@b.io", " "), ("+1 415 555 0132", " "), ("x@y.co.uk", "\t"), ("+44 20", "(")],
]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_RUN_VALUES, _RUN_SEPARATORS), min_size=1, max_size=30))
@_examples(*_HARD_RUNS)
def test_runs_of_values_read_at_once_come_out_as_read_one_by_one(
    pieces: list[tuple[str, str]],
) -> None:
    """Values of one kind one after another (emails, cards, phone numbers), which the
    default redactor reads in one RE2 match, come out as an engine reading each alone."""
    text = "".join(value + separator for value, separator in pieces)
    assert DEFAULT.redact(text) == _ONE_BY_ONE.redact(text)
    assert DEFAULT.redact_many([text, text[1:]]) == _ONE_BY_ONE.redact_many([text, text[1:]])


@pytest.mark.parametrize(
    ("unit", "repeats"),
    [
        ("a@b.io ", 500),
        ("4111111111111112 ", 300),
        ("4111 1111 1111 1112 ", 300),
        ("4111 1111 1111 1111 ", 300),
        ("+1 2 3 ", 500),
        ("+1 415 555 0132 ", 300),
    ],
)
def test_runs_read_at_once_replace_what_one_by_one_does(unit: str, repeats: int) -> None:
    """A flood of one kind's values (or near misses) is redacted as value by value."""
    text = f"mail {unit * repeats}end"
    assert DEFAULT.redact(text) == _ONE_BY_ONE.redact(text)


# Four-digit groups, most of them near misses: groups that start with 0 (each starts a
# phone number), cards that pass Luhn, and now and then a group of another shape.
_GROUP = st.one_of(
    st.text("0123456789", min_size=4, max_size=4),
    st.text("0123456789", min_size=3, max_size=3).map(lambda digits: "0" + digits),
    st.sampled_from(["0000", "0000", "1111", "4111"]),
)
_CUTTING_IN = [CARD, "4012 8888 8888 1881", "0111 1111 1111 1112", "020 7946 0958"]
_OTHER_SHAPES = ["123", "12345", "+1 2 3", "078-05-1120", "a@b.io", "x", "0000-0000"]
_STRETCH_VALUE = st.one_of(
    st.lists(_GROUP, min_size=1, max_size=6).map(" ".join),
    st.sampled_from(_CUTTING_IN),
    st.sampled_from(_OTHER_SHAPES),
)
_EDGE_TEXTS = ["", " ", "\n", "(", "+", ".", "-", "x", "1", "a@b.io "]
_STRETCH_EDGES = st.sampled_from(_EDGE_TEXTS)
_ODD_SEPARATORS = [" ", "  ", "\n", ".", "-"]


# 50 examples: the edges, odd separators and values that cut in are all tried by
# `test_every_edge_of_a_stretch_comes_out_as_read_one_by_one`, and long random floods
# by `test_random_digit_group_floods_are_redacted_as_one_by_one`; this one mixes them,
# after the hard case: a stretch of 0-led groups where one group is not, so that phone
# numbers start at every group but that one (where the next is looked for matters).
@settings(max_examples=50, deadline=None)
@given(
    _STRETCH_EDGES,
    st.lists(
        st.one_of(_GROUP, _GROUP, _GROUP, _GROUP, _GROUP, _STRETCH_VALUE), min_size=20, max_size=160
    ),
    st.sampled_from([" ", " ", *_ODD_SEPARATORS]),
    _STRETCH_EDGES,
)
@example("", ["0000"] * 21 + ["1000"] + ["0000"] * 10, " ", "")
def test_stretches_of_digit_groups_come_out_as_read_one_by_one(
    before: str, pieces: list[str], odd: str, after: str
) -> None:
    """Long stretches of four-digit groups, where a rejected card hides a phone number
    and a rejected phone number a card at every group, come out as an engine reading
    each value alone, with accepted cards and other values cutting in anywhere."""
    text = before + " ".join(pieces) + odd + after
    assert DEFAULT.redact(text) == _ONE_BY_ONE.redact(text)
    many = [text, text[1:], "x " + text]
    assert DEFAULT.redact_many(many) == _ONE_BY_ONE.redact_many(many)


def test_every_edge_of_a_stretch_comes_out_as_read_one_by_one() -> None:
    """A stretch holding each value that cuts into four-digit groups (accepted cards,
    rejected ones, a phone number) and each value of another shape, between every edge
    before and after it, ended by every odd separator, comes out as read one by one."""
    groups = ["0000", "4111", "1111", "0123", "0999", "4012", "8888", "1881", "0207", "9460"]
    pieces: list[str] = []
    for index, value in enumerate([*_CUTTING_IN, *_OTHER_SHAPES]):
        pieces += [groups[index % len(groups)], groups[(index * 3 + 1) % len(groups)], value]
    stretch = " ".join([*pieces, *groups])
    for before, odd, after in itertools.product(_EDGE_TEXTS, _ODD_SEPARATORS, _EDGE_TEXTS):
        text = before + stretch + odd + after
        assert DEFAULT.redact(text) == _ONE_BY_ONE.redact(text), text
        many = [text, text[1:], "x " + text]
        assert DEFAULT.redact_many(many) == _ONE_BY_ONE.redact_many(many), text


@pytest.mark.parametrize("seed", range(6))
def test_random_digit_group_floods_are_redacted_as_one_by_one(seed: int) -> None:
    """Thousands of random four-digit groups (the benchmark's random near-miss cards)."""
    rng = random.Random(seed)
    firsts = "0123456789" if seed % 2 else "0012"
    groups = [rng.choice(firsts) + "".join(rng.choices("0123456789", k=3)) for _ in range(3000)]
    text = "x " + " ".join(groups) + " end"
    assert DEFAULT.redact(text) == _ONE_BY_ONE.redact(text)


_HEADER = "-----BEGIN PRIVATE KEY-----"  # left open
_LONG_VALUES = st.one_of(
    st.integers(min_value=22, max_value=40).map(lambda n: "+14155552671" * n),
    st.integers(min_value=0, max_value=60).map(lambda n: RSA_KEY.replace("\n", "\nQUJD" * n, 1)),
    st.integers(min_value=300, max_value=600).map(lambda n: "sk-" + "a1" * (n // 2)),
    st.integers(min_value=300, max_value=600).map(lambda n: "Bearer " + "x9" * (n // 2)),
    st.integers(min_value=130, max_value=300).map(lambda n: "jane@" + "ab." * n + "io"),
    st.integers(min_value=300, max_value=600).map(lambda n: JWT + "x" * n),
    st.integers(min_value=20, max_value=40).map(lambda n: _HEADER + "\nQUJD" * n),
)
_EDGES = st.sampled_from(["", " ", "\n", "(", "+", "-", ".", "x", "1", "é", "a@b.io ", "=", "@"])


@settings(max_examples=200, deadline=None)
@given(_EDGES, _LONG_VALUES, _EDGES)
def test_a_long_match_is_read_as_re2s_groups_read_it(before: str, value: str, after: str) -> None:
    """A match too long for Python's re (glued phone numbers, a private key) has its value
    found from its context without RE2's groups, at the text's edges too, as they find it."""
    text = before + value + after
    assert DEFAULT.redact(text) == _ONE_BY_ONE.redact(text)
    assert DEFAULT.redact_many([text, "x" + text]) == _ONE_BY_ONE.redact_many([text, "x" + text])


_PLUS_NUMBERS = st.tuples(
    st.text("0123456789", min_size=1, max_size=3),
    st.lists(st.text("0123456789", min_size=1, max_size=10), min_size=1, max_size=6),
).map(lambda parts: " ".join(["+" + parts[0], *parts[1]]))


# The edges of the digit counts a number may hold (7 and 8, 15 and 16), in one value and
# side by side; generated lists add other counts and splits into groups.
_PLUS_EDGES = [
    ["+1 234567"], ["+1 2345678"], ["+123 456789012345"], ["+123 4567890123456"],
    ["+1 2 3 4 5 6 7", "+12 345678", "+123 456789 012345", "+1 234567890123456", "+1 2345678"],
]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(st.lists(_PLUS_NUMBERS, min_size=1, max_size=8))
@_examples(*_PLUS_EDGES)
def test_a_run_forms_bulk_check_agrees_with_its_kinds_validator(values: list[str]) -> None:
    """The phone run's check of many ``+d dd ddd`` values at once gives `_phone`'s verdicts."""
    from llmguard.redact._patterns import RUNS

    check = RUNS["phone"][0].check
    validator = DEFAULT.patterns["phone"][1]
    assert check is not None
    assert validator is not None
    assert check([value.encode() for value in values]) == [validator(value) for value in values]


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("00000 0000 00000 0000.0020 4076 0408 54", "[phone] [phone].[card]"),
        ("+886 9222 0706 078 0131 88 4111 1111 1111 1111", "[phone] [phone] [card]"),
    ],
)
def test_two_numbers_before_a_value_that_cuts_their_run_are_both_replaced(
    text: str, redacted: str
) -> None:
    """A run of digit groups cut short by a card after it is read again up to the card,
    split in two numbers as a reading of the text alone splits it (it was left whole,
    and a second redaction then replaced it)."""
    assert redact_text(text)[0] == redacted
    assert redact_text(redacted)[0] == redacted


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(_RUN_VALUES, _RUN_SEPARATORS), max_size=8).map(
            lambda pieces: "".join(value + separator for value, separator in pieces)
        ),
        max_size=6,
    )
)
@_examples(["".join(value + separator for value, separator in run) for run in _HARD_RUNS])
def test_runs_across_the_strings_of_a_batch_come_out_as_each_alone(texts: list[str]) -> None:
    """Strings of values one after another, read together in one search (a run may go on
    into the next string), come out as each string redacted alone."""
    assert DEFAULT.redact_many(texts) == [DEFAULT.redact(text)[0] for text in texts]
    assert DEFAULT.redact_many(texts) == _ONE_BY_ONE.redact_many(texts)


# Key prefixes and tokens glued to each other, where a rejected key hides its kind until
# an accepted bearer token (whose value runs into the next key) cuts it.
_KEY_PIECE = st.sampled_from(
    [
        *("sk-", "ghp_", "AKIA", "eyJ", "xoxb-", "Bearer ", "Bearer", "bearer\t", "-", "_", " "),
        *("\n", "a", "Z", "1", "9", "x" * 20, "ab1" * 7, "=", ".", "/", "(", "a@b.io ", "é"),
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_KEY_PIECE, min_size=1, max_size=12),
    st.integers(min_value=1, max_value=40),
    st.lists(_KEY_PIECE, max_size=4),
)
def test_key_prefix_floods_come_out_as_read_one_by_one(
    unit: list[str], repeats: int, tail: list[str]
) -> None:
    """A unit of key prefixes and tokens repeated (rejected keys, accepted bearer tokens
    running into the next unit) comes out as an engine reading each value alone."""
    text = "".join(unit) * repeats + "".join(tail)
    assert DEFAULT.redact(text) == _ONE_BY_ONE.redact(text)
    many = [text, text[1:], "x " + text]
    assert DEFAULT.redact_many(many) == _ONE_BY_ONE.redact_many(many)


# A key rejected at a value's end, then a bearer token starting inside it and running
# into what follows: the shape `_pairs` reads, repeated, with other pieces cutting in.
_REJECTED_KEY = st.one_of(
    st.text("abcxyzABCXYZ_-", min_size=17, max_size=30).map(lambda tail: "sk-" + tail),
    st.text("abcxyz", min_size=6, max_size=9).map(lambda token: "Bearer " + token),
    st.sampled_from(["ghp_abc", "AKIAeyJ", "xoxb-", "sk-ghp_AKIAeyJxoxb", ""]),
)
_BEARER_HEAD = st.sampled_from(["-Bearer ", " Bearer ", "-Bearer\t", "_Bearer ", "(bearer ", "."])
_PAIR_UNIT = st.tuples(_REJECTED_KEY, _BEARER_HEAD, st.lists(_KEY_PIECE, max_size=2)).map(
    lambda parts: parts[0] + parts[1] + "".join(parts[2])
)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(_PAIR_UNIT, st.integers(min_value=1, max_value=30)), min_size=1, max_size=4),
    st.lists(_KEY_PIECE, max_size=3),
)
# The scheme's word twice in a row (where a bearer run must stop), after a rejected key
# and between bearer tokens; a rejected key whose bearer token runs into the next unit.
@example(units=[("sk-AAAAAAAAAAAAAAAAA Bearer Bearer ", 3)], tail=[])
@example(units=[("Bearer aaaaaa Bearer ", 2), ("Bearer aaaaaa-Bearer ", 1)], tail=["a"])
@example(units=[("sk-ghp_AKIAeyJxoxb-Bearer ", 30), ("ghp_abc(bearer x", 2)], tail=["Bearer"])
def test_rejected_keys_cut_by_bearer_tokens_come_out_as_read_one_by_one(
    units: list[tuple[str, int]], tail: list[str]
) -> None:
    """Floods of rejected keys each cut by a bearer token (read a pair at a time when the
    text repeats itself) come out as an engine reading each value alone."""
    text = "".join(unit * repeats for unit, repeats in units) + "".join(tail)
    assert DEFAULT.redact(text) == _ONE_BY_ONE.redact(text)
    many = [text, text[1:], "x " + text]
    assert DEFAULT.redact_many(many) == _ONE_BY_ONE.redact_many(many)


def test_the_key_prefix_flood_is_redacted_as_one_by_one() -> None:
    """The benchmark's key prefix flood, with a different unit cutting in now and then."""
    unit = "sk-ghp_AKIAeyJxoxb-Bearer "
    text = unit * 300 + "sk-ghp_AKIA9eyJ Bearer abc " + unit * 200 + "Bearer" + unit * 50
    assert DEFAULT.redact(text) == _ONE_BY_ONE.redact(text)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text("0123456789", min_size=1, max_size=3),
            st.lists(st.text("0123456789", min_size=1, max_size=10), min_size=1, max_size=6),
        ).map(lambda parts: " ".join(["+" + parts[0], *parts[1]])),
        max_size=40,
    )
)
@_examples([], *_PLUS_EDGES, [value for values in _PLUS_EDGES for value in values] * 3)
def test_a_phone_run_is_judged_as_the_phone_check_judges_each_number(values: list[str]) -> None:
    """The verdicts on a run of ``+d dd ddd`` numbers, all at once, are the phone check's."""
    from llmguard.redact._patterns import RUNS, _phone

    (form,) = RUNS["phone"]
    assert form.check is not None
    assert form.check([value.encode() for value in values]) == [_phone(v) for v in values]


# -- short strings of letters, left out of the search ------------------------------------

_LETTERS = st.text(st.characters(categories=["Lu", "Ll", "Lt", "Lm", "Lo"]), max_size=19)


# 150 generated examples (was 500), after the letters-only values one letter short of
# the two kinds whose values may be letters alone: an AWS access key id (19 of its 20
# letters) and a Google API key (19 of its 39), which random letters never spell.
@settings(max_examples=150, deadline=None)
@given(_LETTERS)
@example("AKIAIOSFODNNEXAMPLE")
@example("ASIAZZZZZZZZZZZZZZZ")
@example("AIzaSyDaGmWKaSyDaGm")
def test_a_short_string_of_letters_holds_no_value_of_the_default_kinds(text: str) -> None:
    """No default kind matches a string of fewer than 20 letters: the reason the record
    walk leaves such strings out of the search (role names, message keys)."""
    from llmguard.redact._records import PLAIN_BELOW

    assert PLAIN_BELOW == 20
    assert DEFAULT.redact(text) == (text, {})
    for name, (pattern, validator) in DEFAULT.patterns.items():
        for match in pattern.finditer(text):
            value = match.group("secret") if "secret" in pattern.groupindex else match.group()
            assert validator is not None, (name, value)
            assert not validator(value), (name, value)


def test_the_shortest_letters_only_values_are_twenty_letters_or_more() -> None:
    """The bound is tight: an AWS access key id of 20 letters, a Google key of 39, are
    redacted where they stand alone in a record's strings."""
    aws = "AKIAIOSFODNNEXAMPLEQ"
    google = "AIza" + "SyDaGmWKa" * 3 + "ABCDEFGH"
    assert len(aws) == 20
    assert aws.isalpha()
    assert len(google) == 39
    assert google.isalpha()
    record = make_record(input={aws: google}, model=aws, tags=(google,))
    redacted = DEFAULT(record)
    assert redacted.input == {"[aws_access_key]": "[google_api_key]"}
    assert redacted.model == "[aws_access_key]"
    assert redacted.tags == ("[google_api_key]",)
    assert redacted.metadata[METADATA_KEY] == {"aws_access_key": 2, "google_api_key": 2}


_WORD = st.one_of(
    _LETTERS,
    st.sampled_from(["role", "content", "user", "assistant", "system", "é", "Ωmega", ""]),
)


def _nested(inner: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    keys = st.one_of(_WORD, _TEXT)
    return st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=3))


_MIXED = st.recursive(
    st.one_of(_WORD, _TEXT, st.sampled_from([4111111111111111, "AKIAIOSFODNNEXAMPLEQ"])),
    _nested,
    max_leaves=14,
)


# Words of letters 19 and 20 long (the first left out of the search, the second read) as
# keys, values, items, tags and metadata, each before a value that is replaced.
_EDGE_WORDS = ["Zyxwvutsrqponmlkjih", "Zyxwvutsrqponmlkjihg", "é" * 19, "é" * 20]
_SHORT_WORD_RECORDS = [
    (
        {_EDGE_WORDS[0]: "a@b.io", _EDGE_WORDS[1]: [*_EDGE_WORDS, "mail a@b.io"]},
        [_EDGE_WORDS[3], {_EDGE_WORDS[2]: _EDGE_WORDS[1]}, "c@d.io", {"k": "a@b.io"}],
        _EDGE_WORDS[:2],
    ),
    (_EDGE_WORDS[1], {_EDGE_WORDS[3]: ["a@b.io", _EDGE_WORDS[0]]}, _EDGE_WORDS[2:]),
]


# 30 generated examples (was 80), after the hard records and the words at the bound.
@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(_MIXED, _MIXED, st.lists(_WORD, max_size=2)), min_size=1, max_size=5))
@_examples(*_HARD_RECORDS, _SHORT_WORD_RECORDS)
def test_records_with_short_words_come_out_as_the_one_by_one_engine_leaves_them(
    contents: list[tuple[object, object, list[str]]],
) -> None:
    """Records whose strings mix short words (left out of the default redactor's search)
    with values come out of `redact_records`, and one by one, as from a redactor of the
    same patterns that is not llmguard's own and so reads every string."""
    records = [
        make_record(input=given_input, output=output, tags=tuple(tags), metadata={"k": output})
        for given_input, output, tags in contents
    ]
    expected = [r.to_dict() for r in _ONE_BY_ONE.redact_records(records)]
    assert [r.to_dict() for r in DEFAULT.redact_records(records)] == expected
    assert [DEFAULT(r).to_dict() for r in records] == expected
    for record, redacted in zip(records, DEFAULT.redact_records(records), strict=True):
        assert (redacted is record) == (_ONE_BY_ONE(record) is record)


def test_sets_in_a_hand_built_record_are_redacted_and_written_as_lists() -> None:
    """A set or frozenset in a record made by hand (capture turns sets into lists) is
    read like a list: its values are replaced, and the changed set becomes the list its
    JSON is written as; a set with nothing to replace stays the same object."""
    clean = frozenset({"nothing here", "or here"})
    record = lg.Record(
        trace_id="1" * 32, span_id="2" * 16, name="n", start="s", end="e", duration_ms=1.0,
        input={"x": {"mail a@b.io"}, "y": frozenset({"AKIAIOSFODNNEXAMPLEQ"}), "z": clean},
    )  # fmt: skip
    redacted = DEFAULT(record)
    assert redacted.input["x"] == ["mail [email]"]
    assert redacted.input["y"] == ["[aws_access_key]"]
    assert redacted.input["z"] is clean
    assert redacted.metadata[METADATA_KEY] == {"email": 1, "aws_access_key": 1}
    assert b"a@b.io" not in redacted.to_json()
