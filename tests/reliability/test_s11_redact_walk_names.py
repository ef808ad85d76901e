"""A dictionary's value under a secret's name goes whole, whatever its type.

Tool-call arguments, a traced function's inputs and metadata are dictionaries: the
value under ``password``, ``client_secret``, ``api_key``... is replaced by the kind's
marker (``[password]``, ``[secret]``) whether it is text, a number or a container, and
counted; null, booleans, empty values and placeholders stay.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmguard._core.records import Record
from llmguard.redact import DEFAULT, METADATA_KEY, Patterns


def _record(**fields: Any) -> Record:
    return Record(
        trace_id="t", span_id="s", name="n", start="a", end="b", duration_ms=1.0, **fields
    )


def test_values_under_secret_names_go_whatever_their_type() -> None:
    """Text, numbers, lists; nested, in message lists sharing keys, and in metadata."""
    record = _record(
        input={
            "password": 12345678,
            "user": "bob",
            "cfg": {"api_key": "zz", "DB_PASSWORD": "hunter", "password_hint": "dog"},
            "msgs": [
                {"role": "user", "content": "hi", "password": "pw1"},
                {"role": "user", "content": "ho", "password": "pw2"},
            ],
            "creds": {"secrets": ["a", "b"]},
        },
        metadata={"client_secret": "abc", "n": 1},
    )
    out = DEFAULT(record)
    assert out.input == {
        "password": "[password]",
        "user": "bob",
        "cfg": {"api_key": "[secret]", "DB_PASSWORD": "[password]", "password_hint": "dog"},
        "msgs": [
            {"role": "user", "content": "hi", "password": "[password]"},
            {"role": "user", "content": "ho", "password": "[password]"},
        ],
        "creds": {"secrets": "[secret]"},
    }
    assert out.metadata == {
        "client_secret": "[secret]",
        "n": 1,
        METADATA_KEY: {"password": 4, "secret": 3},
    }
    assert b"hunter" not in out.to_json()
    assert b"12345678" not in out.to_json()


@pytest.mark.parametrize("value", [None, True, False, "", "***", "[password]", [], {}])
def test_no_value_under_a_secrets_name_stays(value: Any) -> None:
    """Null, booleans, empty values and placeholders are no secrets: the record is unchanged."""
    record = _record(input={"password": value, "token": "Hello", "max_tokens": 12})
    assert DEFAULT(record) is record


def test_a_redactor_without_the_kinds_reads_values_as_text() -> None:
    """A redactor of the user's kinds alone leaves values under such names to its patterns."""
    mine = Patterns({"ticket": r"T-\d+"})
    record = _record(input={"password": "T-12 hunter2"})
    assert mine(record).input == {"password": "[ticket] hunter2"}


_VALUES = st.recursive(
    st.integers() | st.floats(allow_nan=False) | st.text(min_size=1) | st.binary(min_size=1),
    lambda inner: (
        st.lists(inner, min_size=1, max_size=3)
        | st.dictionaries(st.text(max_size=5), inner, min_size=1, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(["password", "client_secret", "apiKey", "SessionToken", "db_pwd"]),
    value=_VALUES,
    batch=st.booleans(),
)
def test_any_value_under_a_secrets_name_goes(name: str, value: Any, batch: bool) -> None:
    """Any value (text, numbers, bytes, nested containers) goes whole, alone or in a batch."""
    record = _record(input={"args": {name: value, "city": "Paris"}})
    other = _record(input={"q": "nothing here"})
    out = DEFAULT.redact_records([other, record, other])[1] if batch else DEFAULT(record)
    kind = "password" if "pw" in name or "pass" in name else "secret"
    if isinstance(value, str) and value.strip().lower() in {
        "null",
        "none",
        "nil",
        "true",
        "false",
        "undefined",
        "",
    }:
        return
    if isinstance(value, str) and value.strip().strip("*") == "":
        return
    if (
        isinstance(value, str)
        and value.strip().startswith(("[", "<"))
        and value.strip().endswith(("]", ">"))
    ):
        return
    assert out.input == {"args": {name: f"[{kind}]", "city": "Paris"}}
    assert out.metadata[METADATA_KEY][kind] == 1
