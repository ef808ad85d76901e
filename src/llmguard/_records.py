"""Trace records: the frozen, versioned structure every sink receives."""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pydantic_core

if TYPE_CHECKING:
    from pydantic import TypeAdapter

__all__ = [
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
    """Token usage of a call. ``None`` means the provider did not report it."""

    input: int | None = None
    output: int | None = None
    cached_input: int | None = None
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
            cached = _serializer().dump_json(self, exclude_none=True, fallback=_unknown)
            object.__setattr__(self, "_json", cached)
        return cached

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Record:
        """Rebuild a record from `to_dict` output; unknown keys are ignored."""
        values = {k: v for k, v in data.items() if k in _FIELD_SET}
        if isinstance(usage := values.get("usage"), Mapping):
            values["usage"] = Usage(**usage)
        if isinstance(stream := values.get("stream"), Mapping):
            values["stream"] = StreamInfo(**stream)
        if isinstance(truncated := values.get("truncated"), Mapping):
            values["truncated"] = {k: ContentDigest(**v) for k, v in truncated.items()}
        if isinstance(tags := values.get("tags"), list):
            values["tags"] = tuple(tags)
        return cls(**values)

    @classmethod
    def from_json(cls, data: bytes | str) -> Record:
        """Parse one JSON line written by `to_json`."""
        parsed = pydantic_core.from_json(data)
        if not isinstance(parsed, dict):
            raise ValueError("a trace record must be a JSON object")
        return cls.from_dict(parsed)


# Read by pydantic when it builds the serializer below: NaN and infinity become null.
Record.__pydantic_config__ = {"ser_json_inf_nan": "null"}  # type: ignore[attr-defined]


@functools.cache
def _serializer() -> TypeAdapter[Record]:
    # Built on first use: pydantic serializes the whole record in Rust, twice as fast as
    # building a dict first. Importing pydantic here keeps it off `import llmguard`.
    from pydantic import TypeAdapter

    return TypeAdapter(Record)


def _unknown(value: object) -> str:
    return f"<{type(value).__name__}>"


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(Record) if f.name != "_json")
_FIELD_SET = frozenset(_FIELD_NAMES)
_NESTED = frozenset({"usage", "stream", "truncated"})


def _nested_to_dict(value: Any) -> Any:
    if isinstance(value, (Usage, StreamInfo, ContentDigest)):
        fields = dataclasses.fields(value)
        return {f.name: v for f in fields if (v := getattr(value, f.name)) is not None}
    return {k: _nested_to_dict(v) for k, v in value.items()}


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
