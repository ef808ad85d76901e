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
    "SPAN_FIELDS",
    "TimeBound",
    "build_record",
    "build_span_fields",
    "build_span_record",
    "encode_with",
    "build_serializer",
    "iso_bound",
    "load_encoder",
    "replaced",
    "sum_usage",
    "blank_twin",
    "usage_of",
    "SCHEMA_VERSION",
    "ContentDigest",
    "Record",
    "RecordKind",
    "Status",
    "StreamInfo",
    "Usage",
    "iso_time",
    "iso_times",
]

SCHEMA_VERSION = 1
"""The version of the record structure, on every record.

Bumped whenever a field changes meaning or is removed; adding a field does not bump it.
"""

RecordKind = Literal["llm", "attempt", "tool", "agent", "step", "span", "feedback", "internal"]
Status = Literal["ok", "error", "limit"]
StreamEnd = Literal["exhausted", "closed", "cancelled", "error", "interrupted"]


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
_fragment: Any = None  # orjson.Fragment: JSON put in a document as it is
_record_values = operator.attrgetter(*(f.name for f in dataclasses.fields(Record) if f.init))


def load_encoder() -> None:
    """Import the fast encoder (orjson) now, rather than in the first `Record.to_json`.

    Delivery calls this before its thread starts: an import on that thread would hold
    the import lock, which a fork at that moment leaves held forever in the child.
    """
    global _orjson, _ORJSON_OPTIONS, _fragment
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
        _fragment = getattr(orjson, "Fragment", None)  # orjson 3.9 and later
        _orjson = orjson


def _encode(record: Record) -> bytes:
    """The record's JSON: orjson for the common case, three times faster than pydantic's
    dataclass serializer on a record with a few KB of content (4 against 14 µs);
    pydantic's serializer for anything orjson leaves to it, with the same result."""
    if _orjson is None:
        load_encoder()
    if _orjson:
        encoded = _dumped(_json_data(record))
        if encoded is not None:
            return encoded
    serializer = _serializer or build_serializer()
    return serializer.to_json(record, exclude_none=True, fallback=_unknown)


def _dumped(data: dict[str, Any]) -> bytes | None:
    try:
        encoded: bytes = _orjson.dumps(data, option=_ORJSON_OPTIONS)
    except Exception:  # a value orjson leaves to pydantic (a subclass, a big int, ...)
        return None
    return bytes(memoryview(encoded))  # right-sized: see content.packed_snapshot


def encode_with(
    record: Record, input_json: bytes | None, output_json: bytes | None
) -> bytes | None:
    """Compute `Record.to_json` for a record whose input or output is JSON already.

    ``input_json`` must be the JSON orjson wrote for ``record.input`` (or ``None``),
    ``output_json`` the same for the output: the bytes are put in place, not written
    again. orjson writes back what it read byte for byte, so the JSON is the one
    `Record.to_json` would make, and it is kept as the record's JSON. Returns ``None``,
    having done nothing, when orjson cannot write the rest (`Record.to_json` then does).
    """
    if _orjson is None:
        load_encoder()
    fragment = _fragment
    if fragment is None or record._json is not None:
        return record._json
    if input_json is None and output_json is None:
        return None
    data = _json_data(record)
    if input_json is not None and "input" in data:  # in place: the fields keep their order
        data["input"] = fragment(input_json)
    if output_json is not None and "output" in data:
        data["output"] = fragment(output_json)
    encoded = _dumped(data)
    if encoded is not None:
        _set_json(record, encoded)
    return encoded


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
_NESTED = frozenset({"usage", "stream", "truncated"})
_set_json = Record.__dict__["_json"].__set__


def blank_twin(cls: type[Any]) -> type[Any] | None:
    """A class with the slots of ``cls`` (a slotted frozen dataclass) and none of its
    frozen ``__setattr__``: an object is filled on the twin, then given ``cls`` as its
    class. ``None`` where the interpreter refuses that class change; build through
    ``cls`` itself then.

    Setting a record's 31 fields through a frozen dataclass's ``__setattr__`` (or
    through each slot's setter) costs about 1.5 µs; plain attribute stores on a class
    of the same layout and the ``__class__`` assignment (CPython allows it between
    classes with the same slots) cost about 0.4 µs in all.
    """
    twin = type(f"_Blank{cls.__name__}", (), {"__slots__": cls.__slots__})
    try:
        probe: Any = object.__new__(twin)
        probe.__class__ = cls
    except TypeError:
        return None
    return twin


_Blank = blank_twin(Record)
_BlankUsage = blank_twin(Usage)


def usage_of(
    input: int | None,
    output: int | None,
    cached_input: int | None,
    cache_write: int | None,
    reasoning: int | None,
    total: int | None,
) -> Usage:
    """``Usage(input=..., ..., total=...)`` (not estimated), built as records are: 0.2
    against 1 µs for the frozen dataclass's ``__init__``, which adapters pay on every
    response."""
    if _BlankUsage is None:
        return Usage(
            input=input,
            output=output,
            cached_input=cached_input,
            cache_write=cache_write,
            reasoning=reasoning,
            total=total,
        )
    usage: Any = object.__new__(_BlankUsage)
    usage.input = input
    usage.output = output
    usage.cached_input = cached_input
    usage.cache_write = cache_write
    usage.reasoning = reasoning
    usage.total = total
    usage.estimated = False
    usage.__class__ = Usage
    made: Usage = usage
    return made


def _generated(reclass: bool) -> dict[str, Any]:
    """Record constructors, generated from the field names (as `dataclasses` makes
    ``__init__``): ``build`` takes keywords, ``build_span`` the fields a span sets, in
    order, ``replace`` a record and a dict of changes.

    With ``reclass`` they fill a `_Blank` and make it a `Record`; without, they set each
    slot through its descriptor (for an interpreter that refuses the class change).
    """
    fields = [f for f in dataclasses.fields(Record) if f.name != "_json"]
    namespace: dict[str, Any] = {
        "_new": object.__new__,
        "_Blank": _Blank,
        "Record": Record,
        "_values": _record_values,
        "_MISSING": object(),
    }
    if reclass:
        start = "    record = _new(_Blank)\n"
        tail = "    record._json = None\n    record.__class__ = Record\n    return record\n"
    else:
        start = "    record = _new(Record)\n"
        tail = "    _set__json(record, None)\n    return record\n"
        namespace["_set__json"] = _set_json

    def store(name: str, value: str) -> str:
        if reclass:
            return f"    record.{name} = {value}"
        namespace[f"_set_{name}"] = Record.__dict__[name].__set__
        return f"    _set_{name}(record, {value})"

    params, sets, span_sets, with_sets, keeps = [], [], [], [], []
    for i, f in enumerate(fields):
        name = f.name
        if f.default_factory is not dataclasses.MISSING:
            namespace[f"_make_{name}"] = f.default_factory
            params.append(f"{name}=_MISSING")
            value = f"_make_{name}() if {name} is _MISSING else {name}"
            default = f"_make_{name}()"
        elif f.default is not dataclasses.MISSING:
            namespace[f"_default_{name}"] = f.default
            params.append(f"{name}=_default_{name}")
            value, default = name, f"_default_{name}"
        else:
            params.append(name)
            value = default = name
        sets.append(store(name, value))
        span_sets.append(store(name, name if name in SPAN_FIELDS else default))
        given = f"c[{name!r}] if {name!r} in c else {default}"
        with_sets.append(store(name, name if name in SPAN_FIELDS else given))
        keeps.append(store(name, f"c[{name!r}] if {name!r} in c else v[{i}]"))
    source = (
        f"def build(*, {', '.join(params)}):\n{start}" + "\n".join(sets) + "\n" + tail
        + f"def build_span({', '.join(SPAN_FIELDS)}):\n{start}"
        + "\n".join(span_sets) + "\n" + tail
        + f"def build_span_with({', '.join(SPAN_FIELDS)}, c):\n{start}"
        + "\n".join(with_sets) + "\n" + tail
        + f"def replace(r, c):\n    v = _values(r)\n{start}" + "\n".join(keeps) + "\n" + tail
    )  # fmt: skip
    exec(source, namespace)  # the source is built above from the field names alone
    return namespace


# What a span sets of a record's fields, in the order `build_span_record` takes them.
SPAN_FIELDS = (
    "trace_id", "span_id", "parent_id", "kind", "name", "start", "end", "duration_ms",
    "status", "error_type", "error_message", "service", "input", "output", "stream",
    "metadata",
)  # fmt: skip
_SPANLESS_FIELDS = _FIELD_SET - frozenset(SPAN_FIELDS)
_made: dict[str, Any] | None = None


def constructors() -> dict[str, Any]:
    """The generated constructors, made at the first record rather than at import
    (about 3 ms of ``import llmguard``), and put in place of the first-use versions.

    Thread-safe without a lock, so a fork can never inherit one held: threads that
    race each generate the same code from the same field names, and each name is
    rebound in one step, so any caller gets a working constructor.
    """
    global _made, _build, _replace, _build_span_with, build_span_record
    made = _made
    if made is None:
        made = _generated(_Blank is not None)
        _build, _replace = made["build"], made["replace"]
        _build_span_with, build_span_record = made["build_span_with"], made["build_span"]
        _made = made
    return made


def _first_build(**fields: Any) -> Record:
    record: Record = constructors()["build"](**fields)
    return record


def _first_replace(record: Record, changes: dict[str, Any]) -> Record:
    new: Record = constructors()["replace"](record, changes)
    return new


def _first_build_span_with(*values: Any) -> Record:
    record: Record = constructors()["build_span_with"](*values)
    return record


def _first_build_span(*values: Any) -> Record:
    record: Record = constructors()["build_span"](*values)
    return record


_build: Any = _first_build
_replace: Any = _first_replace
_build_span_with: Any = _first_build_span_with
build_span_record: Any = _first_build_span
"""``Record(...)`` with the fields a span sets (`SPAN_FIELDS`, positional, in that
order, ``metadata`` included) and every other field at its default; the fastest way
to make a record. Read it from the module at each use (``records.build_span_record``):
the name is rebound to the generated constructor at the first record."""


def build_span_fields(values: tuple[Any, ...], fields: Mapping[str, Any]) -> Record:
    """`build_span_record` with ``values`` (one per `SPAN_FIELDS`), and the other fields
    given in ``fields`` (a span's own, such as ``usage`` or ``model``) instead of their
    defaults: ``build_record(**dict(zip(SPAN_FIELDS, values)), **fields)`` without
    making a dict of keywords.

    Raises:
        TypeError: A name in ``fields`` is not a field, or is one of `SPAN_FIELDS`.
    """
    if not fields.keys() <= _SPANLESS_FIELDS:
        unknown = sorted(fields.keys() - _SPANLESS_FIELDS)
        raise TypeError(f"not record fields a span may set: {unknown}")
    record: Record = _build_span_with(*values, fields)
    return record


def build_record(**fields: Any) -> Record:
    """``Record(**fields)``, several times as fast.

    Raises:
        TypeError: A required field is missing or a name is not a field.
    """
    record: Record = _build(**fields)
    return record


def replaced(record: Record, **changes: Any) -> Record:
    """``dataclasses.replace(record, **changes)``, several times as fast.

    A subclass of `Record` (whose fields and ``__post_init__`` are its own) goes through
    `dataclasses.replace` itself, and stays of its class.

    Raises:
        TypeError: A name is not a field.
    """
    if type(record) is not Record:
        return dataclasses.replace(record, **changes)
    if not changes.keys() <= _FIELD_SET:
        raise TypeError(f"not record fields: {sorted(changes.keys() - _FIELD_SET)}")
    new: Record = _replace(record, changes)
    return new


def _nested_to_dict(value: Any) -> Any:
    read = _NESTED_READERS.get(type(value))
    if read is not None:
        names, values = read
        return {k: v for k, v in zip(names, values(value), strict=True) if v is not None}
    return {k: _nested_to_dict(v) for k, v in value.items()}


def _readers(*classes: type[Any]) -> dict[type[Any], tuple[tuple[str, ...], Any]]:
    out = {}
    for cls in classes:
        names = tuple(f.name for f in dataclasses.fields(cls))
        out[cls] = (names, lambda v, get=operator.attrgetter(*names): get(v))
    return out


_NESTED_READERS = _readers(Usage, StreamInfo, ContentDigest)


def _data_builder() -> Any:
    """``_json_data(record)``: the dict orjson writes for a record, its fields in order,
    those that are ``None`` left out; generated as straight code (a loop over the
    fields costs twice as much), at the first record written."""
    lines = ["def json_data(record):", f"    ({', '.join(_FIELD_NAMES)},) = _values(record)"]
    lines.append("    data = {}")
    for name in _FIELD_NAMES:
        if name in _NESTED:
            value = f"_nested({name})"
        elif name == "tags":
            value = "list(tags)"
        else:
            value = name
        lines.append(f"    if {name} is not None:\n        data[{name!r}] = {value}")
    lines.append("    return data")
    namespace: dict[str, Any] = {"_values": _record_values, "_nested": _nested_to_dict}
    exec("\n".join(lines) + "\n", namespace)  # built from the field names alone
    return namespace["json_data"]


def _first_json_data(record: Record) -> dict[str, Any]:
    """Generate `_json_data` and put it in place (as `constructors` does: racing
    threads make the same function), then use it."""
    global _json_data
    made = _json_data = _data_builder()
    data: dict[str, Any] = made(record)
    return data


_json_data: Any = _first_json_data


TimeBound: TypeAlias = str | datetime
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
    seconds, rest = divmod(ns, 1_000_000_000)
    return f"{_second(seconds)}.{rest // 1000:06d}Z"


def iso_times(start_ns: int, duration_ns: int) -> tuple[str, str]:
    """`iso_time` of a span's start and of its end, ``duration_ns`` later."""
    seconds, rest = divmod(start_ns, 1_000_000_000)
    prefix = _second(seconds)
    start = f"{prefix}.{rest // 1000:06d}Z"
    rest += duration_ns
    if rest >= 1_000_000_000:
        more, rest = divmod(rest, 1_000_000_000)
        prefix = _second(seconds + more)
    return start, f"{prefix}.{rest // 1000:06d}Z"


def _second(seconds: int) -> str:
    global _last_second
    cached = _last_second
    if cached[0] != seconds:
        # Records finished in the same second share the formatted date and time.
        cached = _last_second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return cached[1]


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
