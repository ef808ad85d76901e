"""Captured content: safe JSON snapshots of arbitrary values and size-bounded copies."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import inspect
import itertools
import types
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from llmguard._core.records import ContentDigest, Record

__all__ = [
    "CONTENT_JSON_FACTOR",
    "MARGIN",
    "SCRUB_DEPTH",
    "Window",
    "content_size",
    "encodable",
    "fit",
    "holds_view",
    "is_packed",
    "json_loader",
    "json_size",
    "measure",
    "packed_snapshot",
    "safe_repr",
    "scrub",
    "sized_snapshot",
    "snapshot",
    "unpacked",
    "valid_text",
    "window",
]

_SCALARS = (str, int, type(None))  # not float: NaN and infinities become null


def safe_repr(value: object, limit: int = 200) -> str:
    """``repr(value)`` cut to ``limit`` characters; never raises."""
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def valid_text(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD, so that it encodes as UTF-8.

    Models emit lone surrogates when a stream is cut in the middle of an emoji; no
    encoder, SDK or sink takes them. A surrogate pair written as two code points is
    joined into the character it stands for. ``text`` itself comes back when it is valid.
    """
    if text.isascii():  # O(1): CPython keeps the flag on the string
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


#: Levels of containers `scrub` goes down; JSON parsers stop models well before it.
SCRUB_DEPTH = 256


def scrub(value: Any, _depth: int = SCRUB_DEPTH) -> Any:
    """``value`` with `valid_text` applied to every string in its dicts, lists and tuples
    (keys included), down to `SCRUB_DEPTH` levels; the same object when it holds none
    to replace."""
    cls = type(value)
    if cls is str:
        return valid_text(value)
    if _depth <= 0:
        return value
    if cls is dict:
        pairs = [(scrub(k, _depth - 1), scrub(v, _depth - 1)) for k, v in value.items()]
        if all(a is k and b is v for (a, b), (k, v) in zip(pairs, value.items(), strict=True)):
            return value
        return dict(pairs)
    if cls is list or cls is tuple:
        items = [scrub(item, _depth - 1) for item in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items if cls is list else tuple(items)
    return value


def encodable(record: Record) -> Record:
    """``record``, or a copy with every string made valid (see `valid_text`), so that
    every sink can write it: its JSON is computed here, once, and kept for the sinks.
    """
    try:
        record.to_json()
    except ValueError as exc:  # the serializer's error: a lone surrogate, most likely
        changes = {
            f.name: scrub(getattr(record, f.name))
            for f in dataclasses.fields(record)
            if f.init and f.name != "truncated"  # digests hold no text
        }
        if isinstance(record.metadata, Mapping) and type(record.metadata) is not dict:
            changes["metadata"] = scrub(dict(record.metadata))
        cleaned = dataclasses.replace(record, **changes)
        try:
            cleaned.to_json()
        except ValueError:
            raise exc from None  # something else: reported as before
        return cleaned
    return record


def _fallback(value: object) -> str:
    return f"<{type(value).__name__}>"


def snapshot(value: Any, _depth: int = 2) -> Any:
    """A JSON-compatible copy of ``value``, taken now, that later mutation cannot change.

    Anything JSON cannot hold is rendered as a short marker instead of raising: unknown
    objects become ``"<TypeName>"``, and so do iterators, at any depth, which are never
    read (a generator passed or returned must reach its consumer whole), bytes become
    their text (see `_bytes_text`), NaN
    becomes null. When a container cannot be walked as a whole (a reference cycle
    somewhere inside), its items are taken one by one, so one bad argument does not
    hide the others.
    """
    return sized_snapshot(value, _depth)[0]


def sized_snapshot(value: Any, _depth: int = 2) -> tuple[Any, int]:
    """`snapshot`, and the copy's `content_size`, counted in the same walk."""
    if isinstance(value, _SCALARS):
        return value, content_size(value)
    if type(value) in _COPIED_IN_PYTHON:
        size = [0]
        try:
            return _plain_copy(value, _PLAIN_DEPTH, size), size[0]
        except _NotPlain:
            pass
    copied = _converted(value, _depth)
    return copied, content_size(copied)


def packed_snapshot(value: Any) -> tuple[Any, int]:
    """`sized_snapshot`, but a container of JSON's own types comes back as its JSON.

    Serializing is the cheapest copy there is on the caller's thread (under a
    microsecond for a few KB of messages, against several for a copy in Python), and
    what it makes is compact and exactly weighed: the size returned is the JSON's
    length. `unpacked` gives the value back. Anything else is snapshotted as usual.
    """
    cls = type(value)
    if cls is str:  # the usual answer: kept as it is, weighed by its length
        return value, len(value) + _ITEM
    if cls is dict or cls is list or cls is tuple:
        if _orjson is None:
            _load_orjson()
        if _orjson:
            try:
                packed: bytes = _orjson.dumps(value, option=_PACK_OPTIONS)
            except Exception:  # not JSON's own types (or too deep): snapshotted below
                pass
            else:
                # orjson's bytes keep its working buffer (4 KB for a few bytes of JSON);
                # a right-sized copy (0.2 us) keeps every queued span that small.
                return bytes(memoryview(packed)), len(packed)
    return sized_snapshot(value)


def unpacked(value: Any) -> Any:
    """The value a `packed_snapshot` stands for (the snapshot itself when not packed)."""
    if type(value) is bytes:
        if _orjson is None:
            _load_orjson()
        return _orjson.loads(value) if _orjson else _pydantic_loads(value)
    return value


def json_loader() -> Callable[[bytes], Any]:
    """What `unpacked` reads packed JSON with, for code that unpacks many in a row."""
    if _orjson is None:
        _load_orjson()
    loads: Callable[[bytes], Any] = _orjson.loads if _orjson else _pydantic_loads
    return loads


def is_packed(value: Any) -> bool:
    """Whether a snapshot is packed JSON (a snapshot never holds ``bytes`` otherwise)."""
    return type(value) is bytes


def _pydantic_loads(value: bytes) -> Any:
    import pydantic_core

    return pydantic_core.from_json(value)


_pydantic_core: Any = None


def _converted(value: Any, _depth: int) -> Any:
    global _pydantic_core
    pydantic_core = _pydantic_core
    if pydantic_core is None:
        import pydantic_core  # what plain Python cannot copy; kept off `import llmguard`

        _pydantic_core = pydantic_core
    try:
        # pydantic-core copies an iterator by reading it to its end, which would leave
        # it empty for the code it belongs to: each is named instead.
        value = _iterators_named(value)
        # Bytes as text, for the redactors to read (never base64, which hides them).
        return pydantic_core.to_jsonable_python(
            value, fallback=_fallback, bytes_mode="utf8", inf_nan_mode="null"
        )
    except Exception as exc:
        if isinstance(exc, UnicodeDecodeError):  # bytes that are not UTF-8, in a container
            with contextlib.suppress(Exception):
                return pydantic_core.to_jsonable_python(
                    _with_bytes_text(value), fallback=_fallback, inf_nan_mode="null"
                )
        if _depth > 0 and isinstance(value, dict):
            return {str(k): snapshot(v, _depth - 1) for k, v in value.items()}
        if _depth > 0 and isinstance(value, (list, tuple)):
            return [snapshot(v, _depth - 1) for v in value]
        return f"<unserializable {type(value).__name__}: {safe_repr(value, 120)}>"


def _iterators_named(value: Any) -> Any:
    """``value`` with every iterator inside replaced by ``"<TypeName>"``; ``value``
    itself when it holds none (the usual case, found by one look at each container,
    without copying).

    Inside means wherever pydantic-core's copy would walk: dicts, lists, tuples, sets,
    deques, dataclass fields and pydantic model fields, at any depth.
    """
    if not _holds_iterator(value):
        return value
    return _named(value, {})


# What `_holds_iterator` steps over without a look: JSON's own leaves.
_LEAVES = frozenset({str, int, float, bool, type(None), bytes})
# The containers pydantic-core copies item by item (subclasses included).
_WALKED = (dict, list, tuple, set, frozenset, deque)


def _holds_iterator(value: Any) -> bool:
    """Whether an iterator stands anywhere in ``value`` that pydantic-core would walk.

    Each container or object is looked into once, however often it is shared, and a
    cycle ends the walk; no recursion, so any depth is fine.
    """
    leaves = _LEAVES
    seen: set[int] = set()
    pending = [value]
    pop, push = pending.pop, pending.append
    while pending:
        item = pop()
        cls = type(item)
        if cls in leaves:
            continue
        if cls is dict or cls is list or cls is tuple:
            inside: Any = item.values() if cls is dict else item
        elif isinstance(item, _WALKED):
            if _iterates_itself(cls):
                return True  # copied by `_named`, read as its base type reads it
            inside = dict.values(item) if isinstance(item, dict) else item
        else:
            shape = _shapes.get(cls, _NOT_MET)
            if shape is _NOT_MET:
                shape = _shape(cls)
            if shape is None:
                continue
            if shape is _ITERATOR:
                return True
            inside = _field_values(item, shape)
        if id(item) in seen:
            continue
        seen.add(id(item))
        for inner in inside:
            if type(inner) not in leaves:
                push(inner)
    return False


# What each class met among captured values is to `_holds_iterator`: an iterator, a
# model, the names of a dataclass's fields, or ``None`` for an object it does not walk
# into. Looked up once per class (the cache is emptied when it grows large, for code
# that makes classes on the fly).
_ITERATOR: Any = object()
_MODEL: Any = object()
_NOT_MET: Any = object()
_shapes: dict[type, Any] = {}


def _shape(cls: type) -> Any:
    if hasattr(cls, "__next__"):
        shape = _ITERATOR
    elif hasattr(cls, "__dataclass_fields__"):
        # A pydantic dataclass's excluded fields are never written: left out here too.
        settings = getattr(cls, "__pydantic_fields__", None) or {}
        shape = tuple(
            f.name
            for f in dataclasses.fields(cls)
            if getattr(settings.get(f.name), "exclude", None) is not True
        )
    elif hasattr(cls, "__pydantic_fields__"):
        shape = _MODEL
    else:
        shape = None
    if len(_shapes) >= 1024:
        _shapes.clear()
    _shapes[cls] = shape
    return shape


def _field_values(value: Any, shape: Any) -> Any:
    if shape is _MODEL:
        fields = getattr(value, "__dict__", None)
        extra = getattr(value, "__pydantic_extra__", None)
        values = list(fields.values()) if isinstance(fields, dict) else []
        return values + list(extra.values()) if isinstance(extra, dict) else values
    return [getattr(value, name, None) for name in shape]


def _fields(value: Any) -> dict[str, Any] | None:
    """A dataclass's or a pydantic model's field values by name (a model's extra fields
    too), which pydantic-core copies; ``None`` for any other object."""
    cls = type(value)
    shape = _shapes.get(cls, _NOT_MET)
    if shape is _NOT_MET:
        shape = _shape(cls)
    if shape is None or shape is _ITERATOR:
        return None
    if shape is _MODEL:
        fields = getattr(value, "__dict__", None)
        named = dict(fields) if isinstance(fields, dict) else {}
        extra = getattr(value, "__pydantic_extra__", None)
        if isinstance(extra, dict):
            named.update(extra)
        return named
    return {name: getattr(value, name, None) for name in shape}


def _model_copy(model: Any, fields: dict[str, Any], named: dict[str, Any]) -> Any:
    """A copy of ``model`` holding ``named``'s values where they differ from ``fields``,
    so that pydantic still writes it as the model says (excluded fields left out,
    serializers applied, computed fields added); ``named`` for a model with no copy."""
    copy = getattr(model, "model_copy", None)
    if not callable(copy):
        return named
    changed = {name: item for name, item in named.items() if item is not fields[name]}
    return copy(update=changed)


def _named(value: Any, seen: dict[int, Any]) -> Any:
    """`_iterators_named`'s copy, made once an iterator is known to be inside.

    ``seen`` maps each container already met to what it became, so a structure sharing
    one list many times over is copied once per object, and a cycle ends the walk (a
    container then stays as it is, for the caller's cycle handling; a dataclass or a
    model, which would lead back to the iterator, becomes ``"<TypeName>"``). A
    dataclass is copied as a dict of its fields; a pydantic model as a model copy
    holding the names, which pydantic then writes as the model says.
    """
    cls = type(value)
    if cls in _LEAVES:
        return value
    if hasattr(cls, "__next__"):
        return f"<{cls.__name__}>"
    fields = None if isinstance(value, _WALKED) else _fields(value)
    if fields is None and not isinstance(value, _WALKED):
        return value
    key = id(value)
    if key in seen:
        return seen[key]
    seen[key] = value if fields is None else f"<{cls.__name__}>"  # met again while walked
    if fields is not None:
        result: Any = {name: _named(item, seen) for name, item in fields.items()}
        if _shapes.get(cls) is _MODEL:
            result = _model_copy(value, fields, result)
    elif isinstance(value, dict):
        result = {name: _named(item, seen) for name, item in dict.items(value)}
    else:  # JSON holds sequences as lists
        result = [_named(item, seen) for item in _base_iter(value)]
    seen[key] = result
    return result


# Container subclasses met, and whether they iterate by Python code of their own: such
# code may read a source dry (a lazy list) or never end, so neither the walk nor
# pydantic-core calls it; the container is read as its base type reads it.
_own_iteration: dict[type, bool] = {}
_ITERATION = ("__iter__", "values", "items", "keys")


def _iterates_itself(cls: type) -> bool:
    own = _own_iteration.get(cls)
    if own is None:
        own = any(
            isinstance(inspect.getattr_static(cls, name, None), types.FunctionType)
            for name in _ITERATION
        )
        if len(_own_iteration) >= 1024:
            _own_iteration.clear()
        _own_iteration[cls] = own
    return own


def _base_iter(value: Any) -> Iterator[Any]:
    """``value``'s items as its base container type gives them (a list's, a set's...)."""
    base: Any
    for base in (list, tuple, deque, set, frozenset):
        if isinstance(value, base):
            iterated: Iterator[Any] = base.__iter__(value)
            return iterated
    return iter(value)


# What `content_size` counts for each value besides a string's characters. JSON spends
# at most 6 bytes on a character (an escape) and at most 30 on anything else (a float's
# 24 characters, quotes, brackets, a separator), so a value's JSON never exceeds
# ``CONTENT_JSON_FACTOR`` times its content size.
_ITEM = 5
CONTENT_JSON_FACTOR = 6


def content_size(value: Any) -> int:
    """The size a snapshot counts for: the characters of its strings (dictionary keys
    included) plus a few for every value; a big integer counts its digits.

    Exact and cheap (``len`` of each string), it is what the delivery queue's byte bound
    weighs, and a value whose size times `CONTENT_JSON_FACTOR` is within a bound has
    JSON within it too, without being serialized. Values that are not JSON data (which
    a snapshot never holds) count as 64.
    """
    cls = type(value)
    if cls is str:
        return len(value) + _ITEM
    if cls is int:
        return _int_size(value)
    if cls is dict or (cls is not list and cls is not tuple and isinstance(value, Mapping)):
        total = _ITEM
        for key, item in value.items():
            total += (len(key) if type(key) is str else 0) + _ITEM
            total += len(item) + _ITEM if type(item) is str else content_size(item)
        return total
    if cls is list or cls is tuple or isinstance(value, (list, tuple)):
        total = _ITEM
        for item in value:
            total += len(item) + _ITEM if type(item) is str else content_size(item)
        return total
    if cls is float or cls is bool or value is None:
        return _ITEM
    if isinstance(value, str):
        return len(value) + _ITEM
    return 64


def _int_size(value: int) -> int:
    bits = value.bit_length()
    return _ITEM if bits <= 64 else bits // 3 + _ITEM


def _bytes_text(value: bytes | bytearray) -> str:
    """Bytes as the text they hold: UTF-8, with U+FFFD for any byte that is not.

    Never base64: a secret sent as bytes must stay readable to the redactors. The
    replacement character is no letter or digit, so a secret right after a byte that
    is not text still stands apart.
    """
    return bytes(value).decode("utf-8", "replace")


def _with_bytes_text(value: Any) -> Any:
    """``value`` with the bytes in its dicts, lists and tuples turned into their text."""
    if isinstance(value, (bytes, bytearray)):
        return _bytes_text(value)
    if isinstance(value, dict):
        return {key: _with_bytes_text(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_with_bytes_text(item) for item in value]
    return value


# The only types `_plain_copy` may copy besides `_SCALARS`: anything else (a pydantic
# model, a dataclass, a subclass) goes straight to pydantic-core, without the raise.
_COPIED_IN_PYTHON = frozenset({float, bytes, bytearray, dict, list, tuple})
# Containers of every kind: a subclass of one is copied whole by pydantic-core.
_CONTAINERS = (str, int, float, bytes, bytearray, dict, list, tuple, set, frozenset)


class _NotPlain(Exception):
    """Raised by `_plain_copy` on a value it leaves to pydantic-core."""


_PLAIN_DEPTH = 6


def _plain_copy(value: Any, depth: int, size: list[int]) -> Any:
    """Copy JSON made of dicts with string keys, lists, tuples and scalars, in Python,
    adding its `content_size` to ``size[0]``.

    The common case of `snapshot` (chat messages, keyword arguments). Plain Python runs
    on the interpreter's paths the application keeps warm, where pydantic-core's
    serializer, touched once per call between the application's own work, runs cold:
    measured beside real SDK calls, a two-message list cost 5-11 µs that way and next
    to nothing this way. Strings in a container are taken without a call of their own
    (most of what a message list holds). Anything else -- a subclass, a non-string key,
    NaN, deeper nesting -- raises `_NotPlain` for pydantic-core to handle.
    """
    cls = type(value)
    if cls is str:
        size[0] += len(value) + _ITEM
        return value
    if cls is int:
        size[0] += _int_size(value)
        return value
    if cls is bool or value is None:
        size[0] += _ITEM
        return value
    if cls is bytes or cls is bytearray:
        text = _bytes_text(value)
        size[0] += len(text) + _ITEM
        return text
    if cls is float:
        if value - value == 0.0:  # finite: inf - inf and nan - nan are nan
            size[0] += _ITEM
            return value
        raise _NotPlain
    if depth:
        depth -= 1
        counted = _ITEM
        if cls is dict:
            copied = {}
            for key, item in value.items():
                if type(key) is not str:
                    raise _NotPlain
                if type(item) is str:
                    counted += len(key) + len(item) + 2 * _ITEM
                    copied[key] = item
                else:
                    counted += len(key) + _ITEM
                    copied[key] = _plain_copy(item, depth, size)
            size[0] += counted
            return copied
        if cls is list or cls is tuple:
            listed = []
            for item in value:
                if type(item) is str:
                    counted += len(item) + _ITEM
                    listed.append(item)
                else:
                    listed.append(_plain_copy(item, depth, size))
            size[0] += counted
            return listed
    if not depth or cls in _COPIED_IN_PYTHON or isinstance(value, _CONTAINERS):
        raise _NotPlain  # too deep, or a subclass: pydantic-core copies the whole value
    # An object JSON has no type for, among plain data (a pydantic model or an SDK
    # message in a list of dicts, a datetime): copied alone, so the data around it is
    # walked once, here, and an iterator is named rather than read.
    alone = f"<{cls.__name__}>" if hasattr(cls, "__next__") else _converted(value, 0)
    size[0] += content_size(alone)
    return alone


def fit(value: Any, max_bytes: int) -> tuple[Any, ContentDigest | None]:
    """Bound a snapshot to ``max_bytes`` of JSON while keeping it valid JSON.

    Returns the value unchanged with ``None`` when it fits. Otherwise long strings are
    cut, long lists and objects are shortened, each with a marker saying how much was
    left out, and the digest of the full value is returned beside the shortened one.
    The work is bounded by ``max_bytes``, not by the value's size, except for the
    digest, which reads the whole value in pieces.
    """
    bounded = window(value, max_bytes)
    if bounded is None:
        return value, None
    return bounded.finish(bounded.value), bounded.digest()


MARGIN = 4096
"""Characters past each cut that redactors see too, and that are dropped after them.

A secret that the cut would split (an email, a key, a card number) is then seen whole
by the redactors, which replace it, instead of leaving its head unrecognized; a secret
up to this long is never delivered in part.
"""

# Ends a string cut for redaction, so that the end of the view can still be found when
# a redactor reshapes the content (a private-use character: no pattern matches it).
_CUT = "\ue000"


class Window:
    """An oversized value, cut down to be redacted, and how to finish the cut afterwards.

    ``value`` is what redactors should see: long strings cut `MARGIN` characters past
    where the delivered value will end them, long lists and objects cut to the items
    that will be kept, with no markers. `finish` takes what the redactors made of it and
    makes the delivered value: the margins dropped, the markers added, at most
    ``max_bytes`` of JSON. `digest` describes the full value, as captured.
    """

    __slots__ = ("_chars", "_items", "_limit", "_original", "value")

    def __init__(self, original: Any, limit: int, sizes: tuple[int, int] | None) -> None:
        self._original = original
        self._limit = limit
        self._chars, self._items = sizes or (0, 0)
        self.value = None if sizes is None else _view(original, self._chars, self._items)

    def finish(self, redacted: Any) -> Any:
        """The delivered value: ``redacted`` (what became of `value`) cut to the bound."""
        if not self._chars:
            return f"<{self.digest().bytes} bytes left out>"
        finished = _finish(redacted, self._original, self._chars, self._items)
        if _json_size(finished) <= self._limit:
            return finished
        # Redaction made the text longer than the cut allowed for: cut the clean text
        # again (no margin needed, it was redacted whole).
        return _shrunk(finished, self._limit)

    def digest(self) -> ContentDigest:
        """The size and SHA-256 of the full value's JSON, as captured."""
        sha = hashlib.sha256()
        size = 0
        for piece in _json_pieces(self._original):
            sha.update(piece)
            size += len(piece)
        return ContentDigest(bytes=size, sha256=sha.hexdigest())


def window(value: Any, max_bytes: int) -> Window | None:
    """A `Window` on ``value`` when its JSON is larger than ``max_bytes``, else ``None``.

    Deciding and cutting take time in proportion to ``max_bytes``, whatever the size of
    ``value``: nothing larger than the bound is serialized, copied or walked in full.
    """
    return measure(value, max_bytes)[0]


def measure(value: Any, max_bytes: int) -> tuple[Window | None, int]:
    """`window` (``None`` when ``value`` fits), and about how many bytes of JSON it has.

    The size is a lower bound of the JSON's, exact for plain text; when the value does
    not fit, it is only known to be larger than ``max_bytes``.
    """
    size = _at_least(value, max_bytes)
    # Each item's JSON is at most 24 times what _at_least counts for it (a float's 24
    # characters for 1), so a value that small fits without being serialized.
    if size <= max_bytes and (size * 24 <= max_bytes or _json_size(value) <= max_bytes):
        return None, size
    return Window(value, max_bytes, _cut_sizes(value, max_bytes)), size


def json_size(value: Any) -> int:
    """The size of ``value``'s JSON, serialized in one call: for values known to be small."""
    if _orjson is None:
        _load_orjson()
    if _orjson:
        try:
            return len(_orjson.dumps(value))
        except Exception:  # not JSON's own types: pydantic-core writes them
            pass
    return len(_valid_json(value))


_orjson: Any = None
_PACK_OPTIONS = 0


def _load_orjson() -> None:
    global _orjson, _PACK_OPTIONS
    try:
        import orjson
    except ImportError:
        _orjson = False
    else:
        # Only JSON's own types: a subclass, a dataclass or a datetime is snapshotted
        # the usual way, so that it is captured as it always was.
        _PACK_OPTIONS = (
            orjson.OPT_PASSTHROUGH_SUBCLASS
            | orjson.OPT_PASSTHROUGH_DATACLASS
            | orjson.OPT_PASSTHROUGH_DATETIME
        )
        _orjson = orjson


_json_size = json_size


def _at_least(value: Any, room: int) -> int:
    """A lower bound of the size of ``value``'s JSON; past ``room``, a partial one.

    Every string costs its length and its quotes, every other item at least a byte, so
    the walk stops after about ``room`` items whatever the size of ``value``.
    """
    cls = type(value)
    if cls is str:
        return len(value) + 2
    if cls in _SMALL_JSON:
        if cls is int and value.bit_length() > 64:
            digits: int = value.bit_length() * 3 // 10  # its decimal digits, at least
            return digits
        return 1
    if cls is dict or (cls is not list and cls is not tuple and isinstance(value, Mapping)):
        if not value:
            return 2
        total = 1 + len(value)
        for key, item in value.items():
            if total > room:
                break
            total += (len(key) if type(key) is str else 1) + 3
            total += len(item) + 2 if type(item) is str else _at_least(item, room - total)
        return total
    if cls is list or cls is tuple or isinstance(value, (list, tuple)):
        if not value:
            return 2
        total = 1 + len(value)
        for item in value:
            if total > room:
                break
            total += len(item) + 2 if type(item) is str else _at_least(item, room - total)
        return total
    if isinstance(value, str):
        return len(value) + 2
    return _UNKNOWN


# Values whose JSON takes at most 24 bytes; anything else is counted as if it filled any
# bound, so that it is serialized before it is judged (it should not be in a snapshot).
_SMALL_JSON = frozenset({int, float, bool, type(None)})
_UNKNOWN = 1 << 40


class _TooBig(Exception):
    """Raised by `_shrink` as soon as what it keeps cannot fit the bound."""


def _cut_sizes(value: Any, limit: int) -> tuple[int, int] | None:
    """The characters per string and items per list or object that fit ``limit``.

    The largest, halving from half the bound, for which the cut value's JSON fits; each
    try stops as soon as what it keeps is certain not to fit. ``None`` when even 16
    characters and one item do not (e.g. object keys longer than the bound).
    """
    chars = max(limit // 2, 16)
    while True:
        items = max(chars // 64, 1)
        try:
            shrunk = _shrink(value, chars, items, [limit])
        except _TooBig:
            pass
        else:
            if _json_size(shrunk) <= limit:
                return chars, items
        if chars <= 16:
            return None
        chars //= 2


def _shrink(value: Any, chars: int, items: int, room: list[int]) -> Any:
    """``value`` cut to ``chars`` per string and ``items`` per container, with markers."""
    if isinstance(value, str):
        if len(value) > chars:
            value = f"{value[:chars]}…[+{len(value) - chars} chars]"
        room[0] -= len(value) + 2
        shrunk: Any = value
    elif isinstance(value, Mapping):
        room[0] -= 2
        shrunk = {}
        for key, item in itertools.islice(value.items(), items):
            room[0] -= (len(key) if isinstance(key, str) else 1) + (4 if shrunk else 3)
            if room[0] < 0:
                raise _TooBig
            shrunk[key] = _shrink(item, chars, items, room)
        if len(value) > items:
            shrunk["…"] = marker = f"+{len(value) - items} keys"
            room[0] -= len(marker) + 7
    elif isinstance(value, (list, tuple)):
        room[0] -= 2
        shrunk = []
        for item in itertools.islice(value, items):
            room[0] -= 1 if shrunk else 0
            if room[0] < 0:
                raise _TooBig
            shrunk.append(_shrink(item, chars, items, room))
        if len(value) > items:
            shrunk.append(marker := f"…[+{len(value) - items} items]")
            room[0] -= len(marker) + 3
    else:
        room[0] -= 1
        shrunk = value
    if room[0] < 0:
        raise _TooBig
    return shrunk


def _shrunk(value: Any, limit: int) -> Any:
    """``value`` (small already) cut to fit ``limit``, or a marker when nothing does."""
    sizes = _cut_sizes(value, limit)
    if sizes is None:
        return f"<{_json_size(value)} bytes left out>"
    return _shrink(value, sizes[0], sizes[1], [limit])


def _view(value: Any, chars: int, items: int) -> Any:
    """What redactors see of ``value``: strings cut `MARGIN` past ``chars``, no markers."""
    if isinstance(value, str):
        if len(value) > chars + MARGIN:
            return value[: chars + MARGIN] + _CUT
        return value
    if isinstance(value, Mapping):
        return {k: _view(v, chars, items) for k, v in itertools.islice(value.items(), items)}
    if isinstance(value, (list, tuple)):
        return [_view(v, chars, items) for v in itertools.islice(value, items)]
    return value


def _finish(redacted: Any, original: Any, chars: int, items: int) -> Any:
    """The delivered form of ``redacted``, the redactors' version of ``original``'s view.

    Walks both together; where a redactor changed the shape, `_finish_reshaped` takes
    over for that part.
    """
    if isinstance(original, str):
        if len(original) <= chars:
            return redacted
        if not isinstance(redacted, str):
            return _finish_reshaped(redacted, chars, items)
        if len(original) <= chars + MARGIN:
            # The redactors saw the whole string: only cut it if it is still too long.
            if len(redacted) <= chars:
                return redacted
            return f"{redacted[:chars]}…[+{len(redacted) - chars} chars]"
        kept = _drop_margin(redacted.removesuffix(_CUT), chars)
        return f"{kept}…[+{max(len(original) - len(kept), 1)} chars]"
    if isinstance(original, Mapping):
        count = min(len(original), items)
        if not isinstance(redacted, Mapping) or len(redacted) != count:
            return _finish_reshaped(redacted, chars, items)
        pairs = zip(redacted.items(), itertools.islice(original.values(), count), strict=True)
        finished = {key: _finish(item, was, chars, items) for (key, item), was in pairs}
        if len(original) > items:
            finished["…"] = f"+{len(original) - items} keys"
        return finished
    if isinstance(original, (list, tuple)):
        count = min(len(original), items)
        if not isinstance(redacted, (list, tuple)) or len(redacted) != count:
            return _finish_reshaped(redacted, chars, items)
        listed = [
            _finish(item, was, chars, items)
            for item, was in zip(redacted, itertools.islice(original, count), strict=True)
        ]
        if len(original) > items:
            listed.append(f"…[+{len(original) - items} items]")
        return listed
    return redacted


def holds_view(value: Any) -> bool:
    """Whether ``value`` holds a string of a `Window`'s view (what a redactor made of it)."""
    if isinstance(value, str):
        return _CUT in value
    if isinstance(value, Mapping):
        return any(holds_view(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(holds_view(item) for item in value)
    return False


def _drop_margin(text: str, chars: int) -> str:
    # The margin's last MARGIN characters may end with the head of a secret that the
    # view cut, which no redactor could recognize: they are never kept.
    return text[: min(chars, max(len(text) - MARGIN, 0))]


def _finish_reshaped(redacted: Any, chars: int, items: int) -> Any:
    """`_finish` for content a redactor reshaped: cut views are found by their end mark."""
    if isinstance(redacted, str):
        end = redacted.find(_CUT)
        if end >= 0:
            kept = _drop_margin(redacted[:end], chars)
            return f"{kept}…[+{len(redacted) - len(kept)} chars]"
        if len(redacted) <= chars:
            return redacted
        return f"{redacted[:chars]}…[+{len(redacted) - chars} chars]"
    if isinstance(redacted, Mapping):
        finished = {
            key: _finish_reshaped(item, chars, items)
            for key, item in itertools.islice(redacted.items(), items)
        }
        if len(redacted) > items:
            finished["…"] = f"+{len(redacted) - items} keys"
        return finished
    if isinstance(redacted, (list, tuple)):
        listed = [_finish_reshaped(item, chars, items) for item in redacted[:items]]
        if len(redacted) > items:
            listed.append(f"…[+{len(redacted) - items} items]")
        return listed
    return redacted


_PIECE = 1 << 16  # characters or bytes serialized by one call: a few hundred microseconds


def _json_pieces(value: Any) -> Iterator[bytes]:
    """``pydantic_core.to_json(value)`` in pieces, none much larger than `_PIECE` bytes.

    The serializer holds the GIL for a whole call: a 10 MB value in one call would
    stall every other thread for tens of milliseconds.
    """
    to_json = _valid_json
    cls = type(value)
    if cls is str and len(value) > _PIECE:
        yield b'"'
        for start in range(0, len(value), _PIECE):
            yield to_json(value[start : start + _PIECE])[1:-1]
        yield b'"'
    elif (cls is list or cls is tuple) and _at_least(value, _PIECE) > _PIECE:
        yield b"["
        yield from _joined(
            value,
            lambda item: _at_least(item, _PIECE),
            lambda group: to_json(group)[1:-1],
            _json_pieces,
        )
        yield b"]"
    elif cls is dict and _at_least(value, _PIECE) > _PIECE and all(type(k) is str for k in value):
        yield b"{"
        yield from _joined(
            value.items(),
            lambda pair: len(pair[0]) + 3 + _at_least(pair[1], _PIECE),
            lambda group: to_json(dict(group))[1:-1],
            lambda pair: _pair_pieces(pair, to_json),
        )
        yield b"}"
    else:
        yield to_json(value)


def _valid_json(value: Any) -> bytes:
    """``pydantic_core.to_json(value)``, lone surrogates written as U+FFFD, as delivered
    (see `encodable`)."""
    import pydantic_core

    try:
        return pydantic_core.to_json(value)
    except ValueError:
        return pydantic_core.to_json(scrub(value))


def _pair_pieces(pair: tuple[str, Any], to_json: Any) -> Iterator[bytes]:
    yield to_json(pair[0]) + b":"
    yield from _json_pieces(pair[1])


def _joined(
    items: Any,
    measure: Callable[[Any], int],
    group_json: Callable[[list[Any]], bytes],
    item_pieces: Callable[[Any], Iterator[bytes]],
) -> Iterator[bytes]:
    """The JSON of ``items`` separated by commas: small ones serialized in groups, large
    ones piece by piece."""
    group: list[Any] = []
    size = 0
    first = True
    for item in items:
        weight = measure(item)
        if group and (weight > _PIECE or size + weight > _PIECE):
            yield (b"" if first else b",") + group_json(group)
            first = False
            group, size = [], 0
        if weight > _PIECE:
            if not first:
                yield b","
            yield from item_pieces(item)
            first = False
        else:
            group.append(item)
            size += weight
    if group:
        yield (b"" if first else b",") + group_json(group)
