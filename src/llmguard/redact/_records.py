"""The strings of a record: collected in order for one search, put back where they were."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from operator import attrgetter
from typing import Any

from llmguard._core.records import Record, replaced
from llmguard.redact._patterns import secret_name, secret_value

METADATA_KEY = "llmguard.redacted"
"""The metadata key holding ``{kind: count}`` of what a `Patterns` redactor replaced."""


# -- the strings of a record ------------------------------------------------------------

# The record's own text fields, and the fields holding nested values; every string in
# them is redacted, dictionary keys included.
_TEXT_FIELDS = (
    "name", "error_type", "error_message", "service", "model", "provider",
    "prompt_name", "prompt_version", "price_table", "finish_reason",
)  # fmt: skip
_NESTED_FIELDS = ("tags", "input", "output", "attempt", "limits")
# The fields in the groups `collect_records` marks the end of: the text fields together
# (most are unset, and a secret in one is rare), then each nested field alone.
GROUPS = (_TEXT_FIELDS, *((name,) for name in _NESTED_FIELDS))
MARKS = len(GROUPS) + 1  # the marks `collect_records` notes per record, the metadata last
_read_texts = attrgetter(*_TEXT_FIELDS)  # a record's text fields, as a tuple
_read_nested = attrgetter(*_NESTED_FIELDS)
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


def collect_records(
    records: Iterable[Record], out: list[str], sizes: dict[int, int], ends: list[int], plain: int,
    secrets: dict[int, str] | None = None,
) -> None:  # fmt: skip
    """Append the strings of each record to ``out``, in the order `rebuilt` visits them.

    ``ends`` gets, for each record, how many strings ``out`` holds after each group of
    `GROUPS` and after the metadata (`MARKS` a record). A string of letters alone
    shorter than ``plain`` is left out (`PLAIN_BELOW` for llmguard's own kinds, 0 for
    any others). With ``secrets``, a dictionary's value under a secret's name
    (`secret_name`) is not read: an empty string stands for it in ``out``, and
    ``secrets`` gets its index and kind.
    """
    append = out.append
    mark = ends.append
    for record in records:
        for value in _read_texts(record):
            if type(value) is str:
                if len(value) >= plain or not value.isalpha():
                    append(value)
            elif value is not None:
                _collect(value, out, sizes, plain, secrets)
        mark(len(out))
        for value in _read_nested(record):
            if type(value) is str:
                if len(value) >= plain or not value.isalpha():
                    append(value)
            elif value is not None and value is not _NO_TAGS:
                _collect(value, out, sizes, plain, secrets)
            mark(len(out))
        metadata = record.metadata
        if metadata:
            for key, value in metadata.items():
                _collect(key, out, sizes, plain, secrets)
                if key in _OPAQUE_METADATA:
                    continue
                if secrets is not None and type(key) is str:
                    named = secret_name(key)
                    if named is not None and secret_value(value):
                        secrets[len(out)] = named
                        append("")
                        continue
                _collect(value, out, sizes, plain, secrets)
        mark(len(out))


def rebuilt(
    record: Record, indices: list[int], counts: dict[str, int], start: int, ends: list[int],
    mark: int, rebuild: Rebuild,
) -> Record:  # fmt: skip
    """``record`` with its changed strings, and ``counts`` in its metadata.

    ``indices`` are the indices of the record's changed strings, in ascending order,
    ``start`` the index of its first string, ``ends[mark : mark + MARKS]`` what
    `collect_records` noted for it; ``rebuild`` holds the batch's changed strings
    (with the same ``plain``). Groups of fields without a changed string are not
    visited. ``counts`` becomes part of the new record.
    """
    changes: dict[str, Any] = {}
    groups = len(GROUPS)
    past = ends[mark + groups - 1]  # the metadata's first string
    bound = start  # the end of the group last rebuilt
    for index in indices:
        if index < bound:
            continue  # in the group just rebuilt
        if index >= past:
            break  # in the metadata
        group = bisect.bisect_right(ends, index, mark, mark + groups)  # the group holding it
        bound = ends[group]
        rebuild.at = ends[group - 1] if group > mark else start
        for name in GROUPS[group - mark]:
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
        if key in _OPAQUE_METADATA:
            _put(metadata, new_key, value)
        elif rebuild.secrets and type(key) is str and secret_name(key) and secret_value(value):
            _put(metadata, new_key, rebuild.take())
        else:
            _put(metadata, new_key, rebuild(value))
    merged = dict(metadata.get(METADATA_KEY) or {})
    for kind, count in counts.items():
        merged[kind] = merged.get(kind, 0) + count
    metadata[METADATA_KEY] = merged
    changes["metadata"] = metadata
    return replaced(record, **changes)


def _collect(
    value: Any, out: list[str], sizes: dict[int, int], plain: int, secrets: dict[int, str] | None
) -> None:
    """Append each string in ``value`` to ``out``, in the order `Rebuild` visits them.

    An integer of ten digits or more counts as its digits, bytes as their text (in a
    record built by hand: a captured one holds text); a string of letters alone
    shorter than ``plain`` is left out. ``sizes`` gets, for each container, how many
    strings it holds, so that `Rebuild` can step over a container none of whose
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
                if secrets is not None:
                    named = secret_name(key)
                    if named is not None and secret_value(item):
                        secrets[len(out)] = named
                        append("")
                        continue
            else:
                _collect(key, out, sizes, plain, secrets)
            if type(item) is str:
                if len(item) >= plain or not item.isalpha():
                    append(item)
            elif item is not None:
                _collect(item, out, sizes, plain, secrets)
        sizes[id(value)] = len(out) - start
    elif cls is list or cls is tuple or isinstance(value, (list, tuple, set, frozenset)):
        start = len(out)
        # The last two keys left out, by identity: the messages of a list share their
        # key objects ("role", "content": one object each in decoded JSON or code).
        plain_key = other_key = None
        for item in value:
            kind = type(item)
            if kind is str:
                if len(item) >= plain or not item.isalpha():
                    append(item)
            elif kind is dict:
                # Inlined for the common case, a list of messages.
                inner = len(out)
                for key, field in item.items():
                    if key is plain_key or key is other_key:
                        pass
                    elif type(key) is str:
                        # A key naming a secret is never remembered as left out.
                        named = None if secrets is None else secret_name(key)
                        if len(key) >= plain or not key.isalpha():
                            append(key)
                        elif named is None:
                            other_key, plain_key = plain_key, key
                        if named is not None and secrets is not None and secret_value(field):
                            secrets[len(out)] = named
                            append("")
                            continue
                    else:
                        _collect(key, out, sizes, plain, secrets)
                    if type(field) is str:
                        if len(field) >= plain or not field.isalpha():
                            append(field)
                    elif field is not None:
                        _collect(field, out, sizes, plain, secrets)
                sizes[id(item)] = len(out) - inner
            elif item is not None:
                _collect(item, out, sizes, plain, secrets)
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


class Rebuild:
    """Rebuilds values with their changed strings, visiting them as `_collect` does.

    One serves a batch: ``changed`` holds the new text of every changed string, by
    index, in ascending order, and values are visited in that order. ``at`` is the
    index of the next string visited. A value none of whose strings
    changed comes back as the same object, without being walked; an integer whose
    digits or bytes whose text were redacted become the redacted text.
    """

    __slots__ = ("_changed", "_plain", "_sizes", "_upcoming", "at", "secrets")

    def __init__(
        self, changed: dict[int, str], sizes: dict[int, int], plain: int, secrets: bool = False
    ) -> None:
        self._changed = changed
        self.secrets = secrets  # whether values under a secret's name were left out
        self._sizes = sizes
        self._plain = plain  # as `collect_records` had it: shorter letters were left out
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
        size = self._sizes.get(id(value))
        if size is None:  # no container `_collect` walked: a value read whole, or none
            if (
                (cls is int and _searched(value))
                or cls is bytes
                or cls is bytearray
                or isinstance(value, str)  # a subclass: searched whatever its length
            ):
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
            return self._mapping(value)
        end = index + size
        walked: list[Any] = []
        append = walked.append
        get = self._sizes.get
        at = index  # ``self.at``, kept here while items are stepped over
        ahead = upcoming[-1]  # the next changed string, in this container
        rest = iter(value)
        for item in rest:
            # Inlined for the common case, a list of containers most of which are
            # unchanged (the messages of a chat).
            size = get(id(item))
            if size is not None and ahead >= at + size:
                at += size
                append(item)
                continue
            self.at = at
            # A changed dict is rebuilt at once (no second look at its size).
            append(self._mapping(item) if size is not None and type(item) is dict else self(item))
            at = self.at
            while upcoming and upcoming[-1] < at:
                upcoming.pop()
            if not upcoming or upcoming[-1] >= end:
                walked.extend(rest)  # no change after this item: the rest as it is
                break
            ahead = upcoming[-1]
        self.at = end
        if isinstance(value, (list, set, frozenset)):
            return walked  # a set's items in the order read, as its JSON lists them
        return tuple(walked)

    def take(self) -> Any:
        """The replacement of a value `collect_records` left out under a secret's name."""
        index = self.at
        self.at = index + 1
        return self._changed[index]

    def _mapping(self, value: Any) -> dict[Any, Any]:
        """A mapping holding a changed string, rebuilt as a dict, its keys too."""
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
            if self.secrets and type(key) is str and secret_name(key) and secret_value(item):
                item = self.take()
            elif type(item) is str:
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


def _put(items: dict[Any, Any], key: Any, value: Any) -> None:
    """``items[key] = value``, with a suffix on a key already there (a redacted one)."""
    if key in items:
        n = 2
        while f"{key} ({n})" in items:
            n += 1
        key = f"{key} ({n})"
    items[key] = value
