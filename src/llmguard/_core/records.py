"""Trace records: the frozen, versioned structure every sink receives."""

from __future__ import annotations

import dataclasses
import operator
import time
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:
    import pydantic_core

__all__ = [
    "TimeBound",
    "build_record",
    "build_serializer",
    "iso_bound",
    "load_encoder",
    "replaced",
    "sum_usage",
    "SCHEMA_VERSION",
    "ContentDigest",
    "Record",
    "RecordKind",
    "Status",
    "StreamInfo",
    "Usage",
    "iso_time",
]

SCHEMA_VERSION = 1
"""The version of the record structure, on every record.

Bumped whenever a field changes meaning or is removed; adding a field does not bump it.
"""

RecordKind = Literal["llm", "attempt", "tool", "agent", "step", "span", "feedback", "internal"]
Status = Literal["ok", "error", "limit"]
StreamEnd = Literal["exhausted", "closed", "cancelled", "error"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """Token usage of a call. ``None`` means the provider did not report it.

    ``input`` counts every input token billed; ``cached_input`` of them were read from
    a provider's prompt cache and ``cache_write`` of them written to it. ``output``
    includes the ``reasoning`` tokens.
    """

    input: int | None = None
    output: int | None = None
    cached_input: int | None = None
    cache_write: int | None = None
    reasoning: int | None = None
    total: int | None = None
    estimated: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamInfo:
    """How a generator or stream ended and how many items it delivered."""

    items: int
    end: StreamEnd


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentDigest:
    """Stands beside a captured value that was truncated: the full value's size and hash."""

    bytes: int
    sha256: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One finished span, as every sink receives it.

    Times are ISO 8601 in UTC with microseconds. Optional fields that were not set are
    ``None`` (or empty) and are left out of the JSON form.
    """

    trace_id: str
    span_id: str
    name: str
    start: str
    end: str
    duration_ms: float
    parent_id: str | None = None
    kind: RecordKind = "span"
    status: Status = "ok"
    error_type: str | None = None
    error_message: str | None = None
    service: str | None = None
    model: str | None = None
    provider: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    usage: Usage | None = None
    cost_usd: float | None = None
    price_table: str | None = None
    price_source: str | None = None
    attempt: Mapping[str, Any] | None = None
    limits: Mapping[str, Any] | None = None
    finish_reason: str | None = None
    input: Any = None
    output: Any = None
    truncated: Mapping[str, ContentDigest] | None = None
    stream: StreamInfo | None = None
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    sample_weight: float = 1.0
    schema_version: int = SCHEMA_VERSION
    _json: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-compatible data, leaving out fields that were not set."""
        out: dict[str, Any] = {}
        for name in _FIELD_NAMES:
            value = getattr(self, name)
            if value is None:
                continue
            out[name] = _nested_to_dict(value) if name in _NESTED else value
        return out

    def to_json(self) -> bytes:
        """The record as one line of JSON (no newline), computed once and kept.

        Fields that are ``None`` are left out, as in `to_dict`.
        """
        cached = self._json
        if cached is None:
            cached = _encode(self)
            object.__setattr__(self, "_json", cached)
        return cached

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Record:
        """Rebuild a record from `to_dict` output; unknown keys are ignored.

        Raises:
            TypeError: A field is missing or holds a value of the wrong type (a line
                that was not written by llmguard), so readers can skip it.
        """
        values = {k: v for k, v in data.items() if k in _FIELD_SET and v is not None}
        for name, value in values.items():
            expected = _FIELD_TYPES.get(name)
            if expected is None:
                continue
            if not isinstance(value, expected) or isinstance(value, bool):
                raise TypeError(f"record field {name!r} holds {type(value).__name__}")
            if type(value) is int and not _INT64_MIN <= value <= _INT64_MAX:
                raise ValueError(f"record field {name!r} holds an integer out of range")
        if (usage := values.get("usage")) is not None:
            values["usage"] = _nested(Usage, usage, int, "estimated")
        if (stream := values.get("stream")) is not None:
            values["stream"] = _nested(StreamInfo, stream, (int, str))
        if (truncated := values.get("truncated")) is not None:
            values["truncated"] = {
                k: _nested(ContentDigest, v, (int, str)) for k, v in truncated.items()
            }
        if (tags := values.get("tags")) is not None:
            if not all(isinstance(tag, str) for tag in tags):
                raise TypeError("record field 'tags' holds a value that is not a string")
            values["tags"] = tuple(tags)
        return cls(**values)

    @classmethod
    def from_json(cls, data: bytes | str) -> Record:
        """Parse one JSON line written by `to_json`."""
        import pydantic_core  # kept off `import llmguard`, like the serializer

        parsed = pydantic_core.from_json(data)
        if not isinstance(parsed, dict):
            raise ValueError("a trace record must be a JSON object")
        return cls.from_dict(parsed)


# Read by pydantic when it builds the serializer below: NaN and infinity become null.
Record.__pydantic_config__ = {"ser_json_inf_nan": "null"}  # type: ignore[attr-defined]


def _resolve_field_types(*classes: type[Any]) -> None:
    """Replace the string annotations of ``classes``' fields by the types they name.

    pydantic resolves a dataclass's string annotations in the namespace of the class's
    module; the facade shows these classes as ``llmguard.Record`` and so on, so it
    would look in the wrong one. Resolved here, once, there is nothing left to look up.
    """
    for cls in classes:
        hints = typing.get_type_hints(cls)
        for item in dataclasses.fields(cls):
            item.type = hints[item.name]
        cls.__annotations__ = {name: hints[name] for name in cls.__annotations__}


_resolve_field_types(Usage, StreamInfo, ContentDigest, Record)


_serializer: pydantic_core.SchemaSerializer | None = None


def build_serializer() -> pydantic_core.SchemaSerializer:
    """Build `_serializer` on first use, keeping pydantic off `import llmguard`.

    pydantic serializes the whole record in Rust, twice as fast as building a dict
    first. `Record.to_json` calls this serializer directly: ``TypeAdapter.dump_json``
    wraps the same call in Python that adds about a tenth to it.
    """
    global _serializer
    from pydantic import TypeAdapter

    _serializer = TypeAdapter(Record).serializer
    return _serializer


def _unknown(value: object) -> str:
    return f"<{type(value).__name__}>"


_orjson: Any = None
_ORJSON_OPTIONS = 0
_record_values = operator.attrgetter(*(f.name for f in dataclasses.fields(Record) if f.init))


def load_encoder() -> None:
    """Import the fast encoder (orjson) now, rather than in the first `Record.to_json`.

    Delivery calls this before its thread starts: an import on that thread would hold
    the import lock, which a fork at that moment leaves held forever in the child.
    """
    global _orjson, _ORJSON_OPTIONS
    if _orjson is None:
        try:
            import orjson
        except ImportError:  # the pydantic serializer does it all, slower
            _orjson = False
            return
        # Only JSON's own types are written by orjson; anything else (a datetime, a
        # dataclass, a subclass, bytes) goes to the pydantic serializer, so that every
        # value is written exactly as it always was.
        _ORJSON_OPTIONS = (
            orjson.OPT_PASSTHROUGH_DATACLASS
            | orjson.OPT_PASSTHROUGH_DATETIME
            | orjson.OPT_PASSTHROUGH_SUBCLASS
        )
        _orjson = orjson


def _encode(record: Record) -> bytes:
    """The record's JSON: orjson for the common case, three times faster than pydantic's
    dataclass serializer on a record with a few KB of content (4 against 14 µs);
    pydantic's serializer for anything orjson leaves to it, with the same result."""
    if _orjson is None:
        load_encoder()
    if _orjson:
        data: dict[str, Any] = {}
        for name, value in zip(_FIELD_NAMES, _record_values(record), strict=True):
            if value is None:
                continue
            if name in _NESTED:
                value = _nested_to_dict(value)
            elif name == "tags":
                value = list(value)
            data[name] = value
        try:
            encoded: bytes = _orjson.dumps(data, option=_ORJSON_OPTIONS)
        except Exception:  # a value orjson leaves to pydantic (a subclass, a big int, ...)
            pass
        else:
            return bytes(memoryview(encoded))  # right-sized: see content.packed_snapshot
    serializer = _serializer or build_serializer()
    return serializer.to_json(record, exclude_none=True, fallback=_unknown)


# Numbers a store can hold: what SQLite (and most readers) take as an integer.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_TEXT = (str,)
_NUMBER = (int, float)
# What each field may hold once read from JSON (None aside); never a bool.
_TEXT_FIELDS = (
    "trace_id", "span_id", "name", "start", "end", "parent_id", "kind", "status",
    "error_type", "error_message", "service", "model", "provider", "prompt_name",
    "prompt_version", "price_table", "price_source", "finish_reason",
)  # fmt: skip
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    **dict.fromkeys(_TEXT_FIELDS, _TEXT),
    **dict.fromkeys(("duration_ms", "cost_usd", "sample_weight"), _NUMBER),
    **dict.fromkeys(
        ("usage", "attempt", "limits", "truncated", "stream", "metadata"), (dict, Mapping)
    ),
    "tags": (list, tuple),
    "schema_version": (int,),
}


def _nested(cls: Any, value: Any, kinds: Any, flag: str | None = None) -> Any:
    if not isinstance(value, Mapping):
        raise TypeError(f"{cls.__name__} must be an object, not {type(value).__name__}")
    for name, item in value.items():
        if item is None:
            continue
        if name == flag:
            if not isinstance(item, bool):
                raise TypeError(f"{cls.__name__}.{name} holds {type(item).__name__}")
        elif not isinstance(item, kinds) or isinstance(item, bool):
            raise TypeError(f"{cls.__name__}.{name} holds {type(item).__name__}")
        elif type(item) is int and not _INT64_MIN <= item <= _INT64_MAX:
            raise ValueError(f"{cls.__name__}.{name} holds an integer out of range")
    return cls(**value)


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(Record) if f.name != "_json")
_FIELD_SET = frozenset(_FIELD_NAMES)


def _fast_constructors() -> tuple[Any, Any]:
    """``Record(**fields)`` and ``dataclasses.replace`` for records, each twice as fast.

    A frozen dataclass's ``__init__`` sets every field through ``object.__setattr__``,
    which looks the attribute up again each time; these call each slot's own setter.
    Generated once, as `dataclasses` generates ``__init__``.
    """
    fields = [f for f in dataclasses.fields(Record) if f.name != "_json"]
    namespace: dict[str, Any] = {"_new": object.__new__, "Record": Record}
    namespace["_values"] = _record_values
    params, sets, keeps = [], [], []
    for i, f in enumerate(fields):
        namespace[f"_set_{f.name}"] = Record.__dict__[f.name].__set__
        if f.default_factory is not dataclasses.MISSING:
            namespace[f"_make_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_MISSING")
            value = f"_make_{f.name}() if {f.name} is _MISSING else {f.name}"
        elif f.default is not dataclasses.MISSING:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
            value = f.name
        else:
            params.append(f.name)
            value = f.name
        sets.append(f"    _set_{f.name}(record, {value})")
        keeps.append(f"    _set_{f.name}(record, c[{f.name!r}] if {f.name!r} in c else v[{i}])")
    namespace["_MISSING"] = object()
    namespace["_set__json"] = Record.__dict__["_json"].__set__
    tail = "    _set__json(record, None)\n    return record\n"
    source = (
        f"def build(*, {', '.join(params)}):\n    record = _new(Record)\n"
        + "\n".join(sets)
        + "\n"
        + tail
        + "def replace(r, c):\n    record = _new(Record)\n    v = _values(r)\n"
        + "\n".join(keeps)
        + "\n"
        + tail
    )
    exec(source, namespace)  # the source is built above from the field names alone
    return namespace["build"], namespace["replace"]


_build, _replace = _fast_constructors()


def build_record(**fields: Any) -> Record:
    """``Record(**fields)``, twice as fast.

    Raises:
        TypeError: A required field is missing or a name is not a field.
    """
    record: Record = _build(**fields)
    return record


def replaced(record: Record, **changes: Any) -> Record:
    """``dataclasses.replace(record, **changes)``, twice as fast.

    Raises:
        TypeError: A name is not a field.
    """
    if not changes.keys() <= _FIELD_SET:
        raise TypeError(f"not record fields: {sorted(changes.keys() - _FIELD_SET)}")
    new: Record = _replace(record, changes)
    return new


_NESTED = frozenset({"usage", "stream", "truncated"})


def _nested_to_dict(value: Any) -> Any:
    if isinstance(value, (Usage, StreamInfo, ContentDigest)):
        fields = dataclasses.fields(value)
        return {f.name: v for f in fields if (v := getattr(value, f.name)) is not None}
    return {k: _nested_to_dict(v) for k, v in value.items()}


TimeBound: TypeAlias = "str | datetime"
"""A time bound: an ISO 8601 string or a datetime (naive ones are taken as UTC)."""


def iso_bound(value: TimeBound) -> str:
    """Write a time bound the way records write their times, so strings compare as times.

    Args:
        value: An ISO 8601 date or time (``Z`` and offsets accepted) or a datetime.

    Returns:
        The UTC time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.

    Raises:
        ValueError: ``value`` is a string that is not an ISO 8601 date or time, or the
            time falls outside years 1 to 9999 once moved to UTC.
    """
    if isinstance(value, str):
        text = value.strip()
        # datetime.fromisoformat accepts a "Z" suffix only from Python 3.11 on.
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO 8601 date or time: {value!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    try:
        utc = value.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"time out of range once in UTC: {value.isoformat()}") from None
    # strftime's %Y does not pad years before 1000 on every platform; strings would
    # then no longer compare as times.
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S.%f}Z"


def iso_time(ns: int) -> str:
    """Format nanoseconds since the epoch as ISO 8601 UTC with microseconds."""
    global _last_second
    seconds, rest = divmod(ns, 1_000_000_000)
    cached = _last_second
    if cached[0] != seconds:
        # Records finished in the same second share the formatted date and time.
        cached = _last_second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{cached[1]}.{rest // 1000:06d}Z"


_last_second: tuple[int, str] = (-1, "")


def sum_usage(a: Usage | None, b: Usage | None) -> Usage | None:
    """The usage of two attempts together; a count either lacks is taken from the other."""
    if a is None or b is None:
        return a or b

    def add(x: int | None, y: int | None) -> int | None:
        return None if x is None and y is None else (x or 0) + (y or 0)

    return Usage(
        input=add(a.input, b.input),
        output=add(a.output, b.output),
        cached_input=add(a.cached_input, b.cached_input),
        cache_write=add(a.cache_write, b.cache_write),
        reasoning=add(a.reasoning, b.reasoning),
        total=add(a.total, b.total),
        estimated=a.estimated or b.estimated,
    )
