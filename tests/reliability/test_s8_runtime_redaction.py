"""Review attacks on redaction: bytes and huge integers in records.

docs/privacy.md promises that secrets are replaced wherever a string can hide in a
record, bytes and integers that are card or phone numbers included, and that a record
the redactor can read is delivered with its content.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard.redact import DEFAULT, METADATA_KEY
from tests.conftest import ListSink

NOW = "2026-01-01T00:00:00.000000Z"
EMAIL = "jane.doe@example.com"


def built(**fields: Any) -> lg.Record:
    """A record made by hand, as a test or an application's own sink code makes one."""
    return lg.Record(
        trace_id="1" * 32, span_id="1" * 16, name="n", start=NOW, end=NOW, duration_ms=0.0, **fields
    )


def written(record: lg.Record) -> str:
    """What a sink would write for the record."""
    return record.to_json().decode()


def test_bytes_in_a_built_record_are_redacted_as_their_text() -> None:
    """Bytes and bytearrays, as values and keys, are read as text: the secret never
    reaches the JSON a sink writes."""
    record = built(
        input={"raw": EMAIL.encode(), EMAIL.encode(): 1, "list": [bytearray(EMAIL.encode())]},
        metadata={"body": f"mail {EMAIL}".encode()},
    )
    for cleaned in (DEFAULT(record), DEFAULT.redact_records([record])[0]):
        assert EMAIL not in written(cleaned)
        assert cleaned.input == {"raw": "[email]", "[email]": 1, "list": ["[email]"]}
        assert cleaned.metadata["body"] == "mail [email]"
        assert cleaned.metadata[METADATA_KEY] == {"email": 4}


def test_bytes_without_a_secret_are_left_as_they_were() -> None:
    """Bytes holding nothing to replace stay the same object."""
    payload = b"plain words only, nothing else"
    record = built(input={"raw": payload})
    assert DEFAULT(record).input["raw"] is payload


def test_an_integer_too_long_to_print_does_not_fail_the_redactor() -> None:
    """An integer of 5,000 digits (past Python's int-to-str limit) is no card or phone
    number: the record is redacted, its other secrets too, not failed."""
    huge = 10**5000
    record = built(input={"huge": huge, "mail": EMAIL})
    cleaned = DEFAULT(record)
    assert cleaned.input == {"huge": huge, "mail": "[email]"}


def test_a_traced_call_returning_a_huge_integer_keeps_its_content() -> None:
    """Through delivery: no redactor failure, no internal error, content delivered."""
    sink = ListSink()
    lg.configure(sinks=[sink])

    @lg.trace
    def big(mail: str) -> int:
        return 7**9000

    big(EMAIL)
    assert lg.flush(timeout=10).complete
    [record] = sink.records
    assert record.input == {"mail": "[email]"}
    assert record.output == 7**9000
    assert lg.stats().internal_errors == 0


@settings(max_examples=60, deadline=None)
@given(
    before=st.text(max_size=40),
    after=st.text(max_size=40),
    as_key=st.booleans(),
)
def test_an_email_inside_bytes_never_reaches_the_json(
    before: str, after: str, as_key: bool
) -> None:
    """Whatever text surrounds it, an email in bytes is replaced (hypothesis)."""
    data = f"{before} {EMAIL} {after}".encode("utf-8", "surrogatepass")
    record = built(input={data: 1} if as_key else {"raw": data})
    cleaned = DEFAULT(record)
    assert EMAIL not in json.dumps(cleaned.to_dict(), ensure_ascii=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to jane.o'brien@example.co.uk today", "write to [email] today"),
        ("d'angelo@example.com", "[email]"),
        ("email = 'john@example.com'", "email = '[email]'"),
        ("['ann@example.com', 'bob@example.org']", "['[email]', '[email]']"),
        ("it's at ann@example.com", "it's at [email]"),
    ],
)
def test_an_apostrophe_inside_an_address_is_part_of_it(text: str, expected: str) -> None:
    """An apostrophe may stand inside an address's local part (RFC 5322; Presidio's
    pattern takes it): the whole address goes (``jane.o'`` was left in the text); a
    quote around an address is not part of it and stays."""
    assert DEFAULT.redact(text) == (expected, {"email": expected.count("[email]")})
