"""The collect and rebuild walk of `redact_records` against the walk it replaced.

The old walk (commit 590e80c's `llmguard/redact/_records.py`, marks after every field,
one rebuilder per record) is kept below as the reference: on generated records (text
fields, tags, metadata, nested dicts, lists, tuples, sets, big integers, bytes, `str`
subclasses, one container at two places, several records a batch), the new walk gives
the same records, field by field, counts included, and the same object where nothing
changed, for llmguard's own kinds (short words left out) and for patterns of one's own
(every string read).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from operator import attrgetter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard._core.records import Record, replaced
from llmguard.redact import DEFAULT, METADATA_KEY, Patterns

# -- the old walk ------------------------------------------------------------------------

# The record's own text fields, and the fields holding nested values; every string in
# them is redacted, dictionary keys included.
_TEXT_FIELDS = (
    "name", "error_type", "error_message", "service", "model", "provider",
    "prompt_name", "prompt_version", "price_table", "finish_reason",
)  # fmt: skip
_NESTED_FIELDS = ("tags", "input", "output", "attempt", "limits")
FIELDS = (*_TEXT_FIELDS, *_NESTED_FIELDS)
_read_fields = attrgetter(*FIELDS)  # a record's fields of `FIELDS`, as a tuple
# Metadata values that are ids or llmguard's own counts, never text to redact.
_OPAQUE_METADATA = frozenset({METADATA_KEY, "otel.parent_span_id"})
# An integer below this cannot be a card (13 digits or more) or phone number (10 or more).
_BIG_INT = 10**9
# Nor can one of more bits than this (some 1,200 digits), whose digits Python may refuse
# to print anyway (`sys.set_int_max_str_digits`, 4,300 by default).
_LONG_INT_BITS = 4000


def _searched(value: int) -> bool:
    """Whether an integer's digits are read (a negative one is no card or phone)."""
    return value >= _BIG_INT and value.bit_length() <= _LONG_INT_BITS


def _bytes_text(value: bytes | bytearray) -> str:
    """Bytes in a record built by hand, read as the text a capture would have made."""
    return bytes(value).decode("utf-8", "replace")


_NO_TAGS: tuple[str, ...] = ()  # the empty tuple, a record's default tags

# Below this length, a string of letters alone holds no value of llmguard's own kinds:
# every kind needs a digit, whitespace or punctuation (@, -, _, ., :, /, =) in its
# matches except three, whose values are letters and digits and at least this long (an
# AWS access key id, 20; a Twilio API key, 34; a Google API key, 39). The role names
# and keys of a message list ("role", "user", "content") are such strings: left out,
# they cost no search.
PLAIN_BELOW = 20


def collect_record(
    record: Record, out: list[str], sizes: dict[int, int], ends: list[int], plain: int
) -> None:
    """Append the strings of ``record`` to ``out``, in the order `rebuilt` visits them.

    ``ends`` gets how many strings ``out`` holds after each field of `FIELDS` (the
    metadata last). A string of letters alone shorter than ``plain`` is left out
    (`PLAIN_BELOW` for llmguard's own kinds, 0 for any others).
    """
    append = out.append
    mark = ends.append
    for value in _read_fields(record):
        if type(value) is str:
            if len(value) >= plain or not value.isalpha():
                append(value)
        elif value is not None and value is not _NO_TAGS:
            _collect(value, out, sizes, plain)
        mark(len(out))
    metadata = record.metadata
    if metadata:
        for key, value in metadata.items():
            _collect(key, out, sizes, plain)
            if key not in _OPAQUE_METADATA:
                _collect(value, out, sizes, plain)
    mark(len(out))


def rebuilt(
    record: Record, changed: dict[int, str], counts: dict[str, int], sizes: dict[int, int],
    start: int, ends: list[int], plain: int,
) -> Record:  # fmt: skip
    """``record`` with its ``changed`` strings, and ``counts`` in its metadata.

    ``changed`` is in ascending order of index. ``start`` is the index of the record's
    first string, ``ends`` what `collect_record` noted (with the same ``plain``):
    fields without a changed string are not visited. ``counts`` becomes part of the
    new record.
    """
    rebuild = _Rebuild(changed, sizes, plain)
    changes: dict[str, Any] = {}
    fields = len(FIELDS)
    past = ends[fields - 1]  # the metadata's first string
    bound = start  # the end of the field last rebuilt
    for index in changed:
        if index < bound:
            continue  # in the field just rebuilt
        if index >= past:
            break  # in the metadata
        field = bisect.bisect_right(ends, index, 0, fields)  # the field holding it
        bound = ends[field]
        name = FIELDS[field]
        rebuild.at = ends[field - 1] if field else start
        value = getattr(record, name)
        new = rebuild(value)
        if new is not value:
            changes[name] = new
    if not record.metadata:
        changes["metadata"] = {METADATA_KEY: counts}
        return replaced(record, **changes)
    rebuild.at = past
    metadata: dict[str, Any] = {}
    for key, value in record.metadata.items():
        new_key = rebuild(key)
        _put(metadata, new_key, value if key in _OPAQUE_METADATA else rebuild(value))
    merged = dict(metadata.get(METADATA_KEY) or {})
    for kind, count in counts.items():
        merged[kind] = merged.get(kind, 0) + count
    metadata[METADATA_KEY] = merged
    changes["metadata"] = metadata
    return replaced(record, **changes)


def _collect(value: Any, out: list[str], sizes: dict[int, int], plain: int) -> None:
    """Append each string in ``value`` to ``out``, in the order `_Rebuild` visits them.

    An integer of ten digits or more counts as its digits, bytes as their text (in a
    record built by hand: a captured one holds text); a string of letters alone
    shorter than ``plain`` is left out. ``sizes`` gets, for each container, how many
    strings it holds, so that `_Rebuild` can step over a container none of whose
    strings changed without walking it.
    """
    cls = type(value)
    append = out.append
    if cls is str:
        if len(value) >= plain or not value.isalpha():
            append(value)
    elif cls is dict or (cls is not list and cls is not tuple and isinstance(value, Mapping)):
        start = len(out)
        for key, item in value.items():
            if type(key) is str:
                if len(key) >= plain or not key.isalpha():
                    append(key)
            else:
                _collect(key, out, sizes, plain)
            if type(item) is str:
                if len(item) >= plain or not item.isalpha():
                    append(item)
            elif item is not None:
                _collect(item, out, sizes, plain)
        sizes[id(value)] = len(out) - start
    elif cls is list or cls is tuple or isinstance(value, (list, tuple, set, frozenset)):
        start = len(out)
        for item in value:
            kind = type(item)
            if kind is str:
                if len(item) >= plain or not item.isalpha():
                    append(item)
            elif kind is dict:
                # Inlined for the common case, a list of messages.
                inner = len(out)
                for key, field in item.items():
                    if type(key) is str:
                        if len(key) >= plain or not key.isalpha():
                            append(key)
                    else:
                        _collect(key, out, sizes, plain)
                    if type(field) is str:
                        if len(field) >= plain or not field.isalpha():
                            append(field)
                    elif field is not None:
                        _collect(field, out, sizes, plain)
                sizes[id(item)] = len(out) - inner
            elif item is not None:
                _collect(item, out, sizes, plain)
        sizes[id(value)] = len(out) - start
    elif cls is int:
        if _searched(value):
            append(str(value))
    elif cls is bytes or cls is bytearray:
        append(_bytes_text(value))
    elif isinstance(value, str):
        # A subclass of str is always searched, as a plain copy: its own methods
        # (``__len__`` above all) could say anything about the text it holds.
        append(str.__str__(value))


class _Rebuild:
    """Rebuilds values with their changed strings, visiting them as `_collect` does.

    ``at`` is the index of the next string visited. A value none of whose strings
    changed comes back as the same object, without being walked; an integer whose
    digits or bytes whose text were redacted become the redacted text.
    """

    __slots__ = ("_changed", "_plain", "_sizes", "_upcoming", "at")

    def __init__(self, changed: dict[int, str], sizes: dict[int, int], plain: int) -> None:
        self._changed = changed
        self._sizes = sizes
        self._plain = plain  # as `collect_record` had it: shorter letters were left out
        self.at = 0
        # The changed indices still ahead, the nearest last (``changed`` is in order).
        self._upcoming = list(reversed(changed.keys()))

    def __call__(self, value: Any) -> Any:
        cls = type(value)
        if cls is str:
            if len(value) < self._plain and value.isalpha():
                return value
            index = self.at
            self.at = index + 1
            return self._changed.get(index, value)
        if (cls is int and _searched(value)) or cls is bytes or cls is bytearray:
            index = self.at
            self.at = index + 1
            return self._changed.get(index, value)
        size = self._sizes.get(id(value))
        if size is None:
            if isinstance(value, str):  # a subclass: searched whatever its length
                index = self.at
                self.at = index + 1
                return self._changed.get(index, value)
            return value
        upcoming = self._upcoming
        index = self.at
        while upcoming and upcoming[-1] < index:
            upcoming.pop()
        if not upcoming or upcoming[-1] >= index + size:
            self.at = index + size  # nothing in it changed
            return value
        if cls is dict or (cls is not list and cls is not tuple and isinstance(value, Mapping)):
            items: dict[Any, Any] = {}
            changed = self._changed
            plain = self._plain
            for key, item in value.items():
                # Inlined for the common case, string keys and values.
                if type(key) is str:
                    if len(key) < plain and key.isalpha():
                        new_key = key
                    else:
                        index = self.at
                        self.at = index + 1
                        new_key = changed.get(index, key)
                else:
                    new_key = self(key)
                if type(item) is str:
                    if len(item) >= plain or not item.isalpha():
                        index = self.at
                        self.at = index + 1
                        item = changed.get(index, item)
                elif item is not None:
                    item = self(item)
                if new_key in items:
                    _put(items, new_key, item)
                else:
                    items[new_key] = item
            return items
        walked = []
        sizes = self._sizes
        for item in value:
            # Inlined for the common case, a list of containers most of which are
            # unchanged (the messages of a chat).
            size = sizes.get(id(item))
            if size is not None:
                index = self.at
                while upcoming and upcoming[-1] < index:
                    upcoming.pop()
                if not upcoming or upcoming[-1] >= index + size:
                    self.at = index + size
                    walked.append(item)
                    continue
            walked.append(self(item))
        if isinstance(value, (list, set, frozenset)):
            return walked  # a set's items in the order read, as its JSON lists them
        return tuple(walked)


def _put(items: dict[Any, Any], key: Any, value: Any) -> None:
    """``items[key] = value``, with a suffix on a key already there (a redacted one)."""
    if key in items:
        n = 2
        while f"{key} ({n})" in items:
            n += 1
        key = f"{key} ({n})"
    items[key] = value


def _old_redact_records(patterns: Patterns, records: list[Record]) -> list[Record]:
    """`Patterns.redact_records` as it was, over the old walk above."""
    texts: list[str] = []
    sizes: dict[int, int] = {}
    ends: list[int] = []
    plain = PLAIN_BELOW if patterns._engine().own else 0
    for record in records:
        collect_record(record, texts, sizes, ends, plain)
    changed = patterns._redact(texts)
    if not changed:
        return list(records)
    upcoming = sorted(changed)
    out = []
    start = 0
    at = 0
    fields = len(FIELDS) + 1
    last = len(upcoming)
    for number, record in enumerate(records):
        mark = number * fields
        end = ends[mark + fields - 1]
        if at == last or upcoming[at] >= end:
            out.append(record)
        else:
            counts: dict[str, int] = {}
            mine: dict[int, str] = {}
            while at < last and upcoming[at] < end:
                index = upcoming[at]
                mine[index], found = changed[index]
                for kind, n in found.items():
                    counts[kind] = counts.get(kind, 0) + n
                at += 1
            marks = ends[mark : mark + fields]
            out.append(rebuilt(record, mine, counts, sizes, start, marks, plain))
        start = end
    return out


# -- the generated records ---------------------------------------------------------------

# The default kinds, each wrapped in a group: not llmguard's own, so every string is read.
_EVERY_STRING = Patterns(
    {
        name: (re.compile(f"(?:{pattern.pattern})", re.A), validator)
        for name, (pattern, validator) in DEFAULT.patterns.items()
    }
)


class _Word(str):
    """A str subclass (searched whatever its length)."""


_TEXT = st.one_of(
    st.sampled_from(
        [
            "role", "user", "content", "assistant", "", "x", "gpt-4o-mini", "@", "b.io",
            "mail a@b.io today", "a@b.io", "AKIAIOSFODNNEXAMPLEQ", "AKIAIOSFODNN7EXAMPLE",
            "call +44 20 7946 0958", "4111 1111 1111 1111", "Bearer abc123def456",
            "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z", "postgres://u:pw@h/db",
            "a@b.io a@b.io", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq\n",
        ]
    ),
    st.text(st.sampled_from("ab @.-+0123456789\n\u017f"), max_size=24),
)  # fmt: skip
_LEAF = st.one_of(
    _TEXT,
    _TEXT.map(_Word),
    _TEXT.map(str.encode),
    st.sampled_from([4111111111111111, 14155552671, 7, 10**9 - 1, True, None, 1.5]),
)
_KEY = st.one_of(_TEXT, st.sampled_from([4111111111111111, 7]))
_NESTED = st.recursive(
    _LEAF,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(_KEY, inner, max_size=4)
        | st.lists(
            st.dictionaries(st.sampled_from(["role", "content", "a@b.io"]), inner, max_size=3),
            max_size=4,
        )
        | st.frozensets(_TEXT, max_size=3)
    ),
    max_leaves=20,
)
_OPTIONAL_TEXT = st.one_of(st.none(), _TEXT)


@st.composite
def _records(draw: st.DrawFn) -> list[Record]:
    records = []
    for _ in range(draw(st.integers(1, 5))):
        shared = draw(_NESTED)
        given_input = draw(st.one_of(_NESTED, st.just({"messages": shared})))
        output = draw(st.one_of(_NESTED, st.just(shared)))
        metadata = draw(
            st.dictionaries(st.one_of(_TEXT, st.just("otel.parent_span_id")), _NESTED, max_size=3)
        )
        if draw(st.booleans()):
            metadata[METADATA_KEY] = {"email": 2}
        record = lg.Record(
            trace_id="t" * 32, span_id="s" * 16, start="2026-01-01T00:00:00.000000Z",
            end="2026-01-01T00:00:01.000000Z", duration_ms=1.0,
            name=draw(_TEXT), model=draw(_OPTIONAL_TEXT), provider=draw(_OPTIONAL_TEXT),
            error_message=draw(_OPTIONAL_TEXT), finish_reason=draw(_OPTIONAL_TEXT),
            input=given_input, output=output, tags=tuple(draw(st.lists(_TEXT, max_size=3))),
            attempt=draw(st.one_of(st.none(), st.dictionaries(_TEXT, _NESTED, max_size=2))),
            limits=draw(st.one_of(st.none(), st.dictionaries(_TEXT, _NESTED, max_size=2))),
            metadata=metadata,
        )  # fmt: skip
        records.append(record)
        if draw(st.booleans()):
            records.append(record)  # the same record twice in a batch
    return records


def _same(got: list[Record], want: list[Record], given: list[Record]) -> None:
    assert len(got) == len(want)
    for new, old, record in zip(got, want, given, strict=True):
        assert new == old
        assert new.to_json() == old.to_json()
        assert (new is record) == (old is record)


@settings(max_examples=30, deadline=None)
@given(_records())
def test_the_walk_gives_the_old_walks_records_for_the_default_kinds(records: list[Record]) -> None:
    """llmguard's own kinds (short words left out): the same records as the old walk."""
    _same(DEFAULT.redact_records(records), _old_redact_records(DEFAULT, records), records)


@settings(max_examples=20, deadline=None)
@given(_records())
def test_the_walk_gives_the_old_walks_records_for_patterns_of_ones_own(
    records: list[Record],
) -> None:
    """Patterns not llmguard's own (every string read): the same records as the old walk."""
    got = _EVERY_STRING.redact_records(records)
    _same(got, _old_redact_records(_EVERY_STRING, records), records)


def test_a_changed_text_field_and_nested_fields_in_one_record() -> None:
    """A secret in a text field (the group read together) and in the input, the output
    and the metadata of one record, among records without any."""
    clean = lg.Record(
        trace_id="t" * 32, span_id="s" * 16, name="call", start="s", end="e", duration_ms=1.0,
        input={"messages": [{"role": "user", "content": "hello"}]},
    )  # fmt: skip
    dirty = replaced(
        clean,
        model="gpt a@b.io",
        error_message="failed for +44 20 7946 0958",
        input={
            "messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "x a@b.io"}]
        },
        output=["ok", {"k": "AKIAIOSFODNN7EXAMPLE"}],
        metadata={"note": "4111 1111 1111 1111"},
    )
    got = DEFAULT.redact_records([clean, dirty, clean])
    assert got[0] is clean
    assert got[2] is clean
    assert got[1].model == "gpt [email]"
    assert got[1].error_message == "failed for [phone]"
    assert got[1].input == {
        "messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "x [email]"}]
    }
    assert got[1].output == ["ok", {"k": "[aws_access_key]"}]
    assert got[1].metadata == {
        "note": "[card]",
        METADATA_KEY: {"email": 2, "phone": 1, "aws_access_key": 1, "card": 1},
    }
    assert got == _old_redact_records(DEFAULT, [clean, dirty, clean])
