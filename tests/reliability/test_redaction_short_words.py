"""Strings of fewer than 20 letters left out of `redact_records`' search when every
kind is llmguard's own.

Attacks: Unicode letters with case foldings onto ASCII (long s, the Kelvin sign, dotted I),
fullwidth and mathematical letters, values split across a dict key and its value or
across neighbouring strings, big integers and short words interleaved (every index
after a skipped string shifts), tuples, tags, metadata keys, `str` subclasses, and a
redactor that fails (the record's content must go, not leak).
"""

from __future__ import annotations

import dataclasses
import enum
import re
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard.redact import DEFAULT, METADATA_KEY, Patterns

# The default kinds, each pattern wrapped in a group: the same matches, but not
# llmguard's own to the engine, so no string is left out of its search.
_EVERY_STRING = Patterns(
    {
        name: (re.compile(f"(?:{pattern.pattern})", re.A), validator)
        for name, (pattern, validator) in DEFAULT.patterns.items()
    }
)

# Letters that fold onto ASCII letters of the patterns, or look like them.
_ODD_LETTERS = (
    "\u017f\u212a\u0130\u0131\u00df\u03a3\u03c2\u00b5\ufb00\uff21\uff2b\uff29\uff21\uff53"
    "\uff4b\U0001d400\U0001d40a\u01c5\u00aa\u00ba\u2170"
)
_SHORT = st.text(
    st.sampled_from(_ODD_LETTERS + "AKIASsktxoheyJBearerghpzaAIz"), min_size=1, max_size=19
)
_SECRETS = st.sampled_from(
    [
        "a@b.io",
        "AKIAIOSFODNN7EXAMPLE",
        "AKIAIOSFODNNEXAMPLEQ",  # letters alone, 20 of them
        "AIza" + "SyDaGmWKa" * 3 + "ABCDEFGH",  # letters alone, 39
        "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
        "Bearer abc123def456",
        "4111 1111 1111 1111",
        "+44 20 7946 0958",
        "123-45-6789",
        "-----BEGIN PRIVATE KEY-----",
        "MIIEvQIBADANBgkq",  # a private key line: letters, digits, +/
        "postgres://u:pw@h",
    ]
)
_LEAF = st.one_of(
    _SHORT,
    _SECRETS,
    st.sampled_from(["role", "user", "content", "assistant", "", "@", "b.io", "a@"]),
    st.sampled_from([4111111111111111, 14155552671, 7, 10**9 - 1, True]),
)
_NESTED = st.recursive(
    _LEAF,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(
            st.one_of(_SHORT, _SECRETS, st.sampled_from([4111111111111111])), inner, max_size=3
        )
    ),
    max_leaves=16,
)


def _record(**fields: Any) -> lg.Record:
    base: dict[str, Any] = {
        "trace_id": "t" * 32,
        "span_id": "s" * 16,
        "name": "call",
        "start": "2026-01-01T00:00:00.000000Z",
        "end": "2026-01-01T00:00:01.000000Z",
        "duration_ms": 1.0,
    }
    base.update(fields)
    return lg.Record(**base)


_AKIA_LETTERS = "AKIAIOSFODNNEXAMPLEQ"  # a value of 20 letters alone: the shortest
# Records holding the hard cases: 20 letters as a key, a value, a tag and a model; short
# words beside values in tuples, dict keys and metadata; a record with nothing to
# replace before the others; integers either side of the searched bound.
_HARD = [
    [
        ("role", None, [], {}, None),
        (
            {_AKIA_LETTERS: "a@b.io", "role": "user", "\u212aey": ("\u017fk", "a@b.io")},
            [("role", "a@b.io"), {"role": "x", _AKIA_LETTERS: "y"}, [7, 14155552671, "b"]],
            ["user", _AKIA_LETTERS],
            {"role": "a@b.io", _AKIA_LETTERS: ["x", 4111111111111111]},
            _AKIA_LETTERS,
        ),
        ([10**9 - 1, "user", {"a@": "b.io"}], "content", ["a@b.io"], {"x": "Bearer"}, "user"),
    ]
]


@settings(max_examples=60, deadline=None)
@example(_HARD[0])
@given(
    st.lists(
        st.tuples(
            _NESTED,
            _NESTED,
            st.lists(st.one_of(_SHORT, _SECRETS), max_size=3),
            st.dictionaries(st.one_of(_SHORT, _SECRETS), _NESTED, max_size=3),
            st.one_of(st.none(), _SHORT, _SECRETS),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_every_replacement_lands_where_reading_every_string_puts_it(
    contents: list[tuple[Any, Any, list[str], dict[str, Any], str | None]],
) -> None:
    """Odd Unicode letters, short words and values interleaved in nested lists, tuples,
    dict keys, tags, metadata keys and text fields: the short-word skip gives exactly
    what reading every string gives, record by record, counts included."""
    records = [
        _record(input=given, output=out, tags=tuple(tags), metadata=meta, model=model)
        for given, out, tags, meta, model in contents
    ]
    expected = _EVERY_STRING.redact_records(records)
    got = DEFAULT.redact_records(records)
    for new, want, old in zip(got, expected, records, strict=True):
        assert new.to_dict() == want.to_dict()
        assert (new is old) == (want is old)


def test_a_value_split_across_a_key_and_its_value_is_as_reading_every_string() -> None:
    """No match crosses from a key into its value (each is a string of its own), with
    or without the short key left out."""
    record = _record(input={"a": "@b.io", "user": "a@", "AKIA": "IOSFODNNEXAMPLE"})
    assert DEFAULT(record).to_dict() == _EVERY_STRING(record).to_dict()
    assert DEFAULT(record) is record


class _Word(str):
    """A str subclass as libraries make them (no method overridden)."""


class _Role(str, enum.Enum):
    USER = "user"
    SECRET = "AKIAIOSFODNNEXAMPLEQ"


def test_str_subclasses_are_read_as_their_text() -> None:
    """str-valued Enum members and plain str subclasses: short ones left out, values redacted,
    every replacement at its own string."""
    record = _record(
        input=[
            {_Role.USER: _Word("hi"), "k": _Role.SECRET},
            [_Word("user"), _Word("a@b.io"), _Role.USER, "AKIAIOSFODNNEXAMPLEQ"],
        ],
        tags=(_Word("role"), _Word("AKIAIOSFODNNEXAMPLEQ")),
    )
    got = DEFAULT(record)
    assert got.to_dict() == _EVERY_STRING(record).to_dict()
    assert got.input == [
        {"user": "hi", "k": "[aws_access_key]"},
        ["user", "[email]", "user", "[aws_access_key]"],
    ]
    assert got.tags == ("role", "[aws_access_key]")
    assert got.metadata[METADATA_KEY] == {"aws_access_key": 3, "email": 1}


class _Unmeasurable(str):
    def __len__(self) -> int:
        raise RuntimeError("no length")


class _Tiny(str):
    def __len__(self) -> int:
        return 3


class _Flip(str):
    """A length that changes from one call to the next."""

    calls = 0

    def __len__(self) -> int:
        _Flip.calls += 1
        return 100 if _Flip.calls % 2 else 1


def test_a_str_subclass_is_read_by_its_text_whatever_its_len_says() -> None:
    """A subclass's own ``__len__`` (failing, too small, changing) is never asked: the
    text it holds is searched, and each replacement lands on its own string."""
    for odd in (_Unmeasurable, _Tiny):
        record = _record(input={"k": [odd("AKIAIOSFODNNEXAMPLEQ")]})
        assert DEFAULT.redact_records([record])[0].input == {"k": ["[aws_access_key]"]}
        assert DEFAULT(record).input == {"k": ["[aws_access_key]"]}
    record = _record(input=[_Flip("abc"), "mail a@b.io", "x"])
    assert DEFAULT(record).input == ["abc", "mail [email]", "x"]
    record = _record(tags=(_Tiny("AKIAIOSFODNNEXAMPLEQ"),), metadata={_Tiny("k"): _Flip("a@b.io")})
    got = DEFAULT(record)
    assert got.tags == ("[aws_access_key]",)
    assert got.metadata["k"] == "[email]"


def test_the_same_container_twice_in_a_record_is_rebuilt_at_both_places() -> None:
    """One list object shared by input and output (sizes are kept by id): both places
    get their replacements, and short words around them do not shift them."""
    shared = ["role", "a@b.io", "user"]
    record = _record(input={"m": shared, "n": "x"}, output=[shared, "AKIAIOSFODNNEXAMPLEQ"])
    got = DEFAULT(record)
    assert got.to_dict() == _EVERY_STRING(record).to_dict()
    assert got.input == {"m": ["role", "[email]", "user"], "n": "x"}
    assert got.output == [["role", "[email]", "user"], "[aws_access_key]"]
    assert dataclasses.asdict(got)["metadata"][METADATA_KEY] == {"email": 2, "aws_access_key": 1}
