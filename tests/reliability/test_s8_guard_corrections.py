"""The correction must tell a hostile or confused model what is really wrong. An answer
that is valid JSON of the wrong type -- JSON encoded again as a string, an array holding
object-like text -- is told its type is wrong, not sent to fix a "syntax error" found
inside one of its strings (it quoted every key; the escapes are the string's)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from llmguard._guard.schema import compile_schema, extract


class Item(BaseModel):
    name: str
    count: int


ITEM = compile_schema(Item)
KEYS = st.text(alphabet="abcdefghij", min_size=1, max_size=5)
OBJECTS = st.dictionaries(KEYS, st.integers() | st.text(max_size=5), min_size=1, max_size=4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=OBJECTS)
def test_json_encoded_again_as_a_string_is_told_it_is_not_an_object(value: Any) -> None:
    answer = json.dumps(json.dumps(value))
    found = extract(answer, ITEM)
    assert not found.ok
    (error,) = found.errors
    assert error.path == "$"
    assert "not valid JSON" not in error.message
    assert "object" in error.message or "dictionary" in error.message


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=OBJECTS)
def test_an_array_of_object_like_strings_is_told_it_is_not_an_object(value: Any) -> None:
    answer = json.dumps([str(value)])  # Python's repr: single quotes, like broken JSON
    found = extract(answer, ITEM)
    assert not found.ok
    assert all("not valid JSON" not in error.message for error in found.errors)


def test_broken_json_in_prose_still_gets_its_syntax_error() -> None:
    found = extract("Here: {'name': 'bolt', 'count': 3,", ITEM, repair=False)
    assert not found.ok
    assert "not valid JSON" in found.errors[0].message


def test_json_after_a_long_list_of_citations_in_prose_is_found() -> None:
    """A grounded answer cites its sources in brackets before its JSON; each bracket is a
    start the embedded stage tries, and a few dozen of them hid the answer (re-asked)."""
    citations = " ".join(f"[{n}]" for n in range(1, 121))
    links = " ".join(f"[doc {n}](https://kb.example/{n})" for n in range(1, 61))
    for prose in (citations, links):
        answer = f"Sources: {prose}.\nAnswer: " + '{"name": "bolt", "count": 2}'
        found = extract(answer, ITEM)
        assert found.ok, found.errors
        assert found.value == Item(name="bolt", count=2)
