"""Trace records: their dict and JSON forms, and ISO timestamps."""

from __future__ import annotations

import calendar
import dataclasses
import datetime
import subprocess
import sys
from typing import Any

import pydantic_core
import pytest
from hypothesis import given
from hypothesis import strategies as st

import llmguard as lg
from llmguard._core.records import iso_time
from tests._helpers.strategies import captured_content

BASE: dict[str, Any] = {
    "trace_id": "0af7651916cd43dd8448eb211c80319c",
    "span_id": "b7ad6b7169203331",
    "name": "answer",
    "start": "2024-05-01T12:00:00.000000Z",
    "end": "2024-05-01T12:00:01.500000Z",
    "duration_ms": 1500.0,
}


def make(**fields: Any) -> lg.Record:
    return lg.Record(**{**BASE, **fields})


def full_record() -> lg.Record:
    return make(
        parent_id="00f067aa0ba902b7",
        kind="llm",
        status="error",
        error_type="ValueError",
        error_message="bad answer",
        service="bot",
        model="gpt-4o",
        provider="openai",
        prompt_name="triage",
        prompt_version="v3",
        usage=lg.Usage(input=10, output=5, cached_input=2, total=15, estimated=True),
        cost_usd=0.0012,
        price_table="2024-05",
        attempt={"number": 2, "of": 3},
        limits={"max_output_tokens": 300},
        finish_reason="stop",
        input={"messages": [{"role": "user", "content": "hi"}]},
        output="hello",
        truncated={"input": lg.types.ContentDigest(bytes=40_000, sha256="ab" * 32)},
        stream=lg.types.StreamInfo(items=7, end="closed"),
        tags=("prod", "eu"),
        metadata={"k": 5},
        sample_weight=4.0,
    )


# -- to_dict -------------------------------------------------------------------------


def test_to_dict_leaves_out_unset_fields() -> None:
    """Fields left at None do not appear; set and defaulted values do."""
    assert make().to_dict() == {
        **BASE,
        "kind": "span",
        "status": "ok",
        "tags": (),
        "metadata": {},
        "sample_weight": 1.0,
        "schema_version": lg.types.SCHEMA_VERSION,
    }


def test_to_dict_and_to_json_agree_on_empty_values() -> None:
    """Empty containers, including an empty output, are kept by both forms."""
    record = make(tags=(), metadata={}, attempt={}, output={})
    data = record.to_dict()
    assert (data["tags"], data["metadata"], data["attempt"], data["output"]) == ((), {}, {}, {})
    parsed = pydantic_core.from_json(record.to_json())
    assert (parsed["tags"], parsed["attempt"], parsed["output"]) == ([], {}, {})


def test_to_dict_never_holds_the_json_cache() -> None:
    """The private JSON cache is not a field of the dict form, even after to_json()."""
    record = make()
    record.to_json()
    assert "_json" not in record.to_dict()


def test_to_dict_nests_usage_stream_and_digests_without_none_members() -> None:
    """Usage, StreamInfo and ContentDigest become plain dicts without their None members."""
    data = make(
        usage=lg.Usage(input=3, total=3),
        stream=lg.types.StreamInfo(items=2, end="exhausted"),
        truncated={"output": lg.types.ContentDigest(bytes=999, sha256="f" * 64)},
    ).to_dict()
    assert data["usage"] == {"input": 3, "total": 3, "estimated": False}
    assert data["stream"] == {"items": 2, "end": "exhausted"}
    assert data["truncated"] == {"output": {"bytes": 999, "sha256": "f" * 64}}
    assert isinstance(data["usage"], dict)


def test_to_dict_keeps_falsy_captured_values() -> None:
    """Captured values that are falsy but set (0, "", False, []) are written."""
    data = make(input=[], output=0, metadata={"flag": False}).to_dict()
    assert data["input"] == []
    assert data["output"] == 0
    assert data["metadata"] == {"flag": False}


# -- round trips ---------------------------------------------------------------------


def test_from_dict_round_trips_a_full_record() -> None:
    """from_dict(to_dict()) rebuilds an equal record, nested types and tags included."""
    record = full_record()
    rebuilt = lg.Record.from_dict(record.to_dict())
    assert rebuilt == record
    assert isinstance(rebuilt.usage, lg.Usage)
    assert isinstance(rebuilt.stream, lg.types.StreamInfo)
    assert rebuilt.truncated is not None
    assert isinstance(rebuilt.truncated["input"], lg.types.ContentDigest)
    assert rebuilt.tags == ("prod", "eu")


def test_from_json_round_trips_a_full_record() -> None:
    """from_json(to_json()) rebuilds an equal record; tags come back as a tuple."""
    record = full_record()
    rebuilt = lg.Record.from_json(record.to_json())
    assert rebuilt == record
    assert isinstance(rebuilt.tags, tuple)


def test_from_json_accepts_text() -> None:
    """from_json takes str as well as bytes."""
    record = make(output="ok")
    assert lg.Record.from_json(record.to_json().decode()) == record


def test_empty_dict_input_and_output_survive_round_trip() -> None:
    """A captured empty dict (a function returning {}) is not turned into "no output"."""
    record = make(input={}, output={})
    assert lg.Record.from_dict(record.to_dict()) == record
    assert lg.Record.from_json(record.to_json()) == record


def test_from_dict_ignores_unknown_keys() -> None:
    """Keys added by a newer schema are ignored, so old readers keep working."""
    data = {**make(model="m").to_dict(), "added_in_v9": {"x": 1}, "usage_v2": 3}
    assert lg.Record.from_dict(data) == make(model="m")


def test_from_dict_fills_defaults_for_missing_optional_keys() -> None:
    """A minimal dict with only the required keys gives a record with defaults."""
    record = lg.Record.from_dict(BASE)
    assert record == make()
    assert record.schema_version == lg.types.SCHEMA_VERSION


@pytest.mark.parametrize("text", ["[]", "[1, 2]", '"record"', "3", "null"])
def test_from_json_rejects_anything_but_an_object(text: str) -> None:
    """A JSON array or scalar is refused with ValueError."""
    with pytest.raises(ValueError, match="JSON object"):
        lg.Record.from_json(text)


def test_to_json_is_one_line_of_json_matching_to_dict() -> None:
    """to_json is a single line without a newline that parses to to_dict()."""
    record = full_record()
    raw = record.to_json()
    assert b"\n" not in raw
    assert pydantic_core.from_json(raw) == pydantic_core.to_jsonable_python(record.to_dict())


def test_to_json_writes_non_finite_numbers_as_null_and_unknown_objects_as_repr() -> None:
    """NaN in metadata becomes null and an unknown object its type name, instead of failing."""

    class Thing:
        def __repr__(self) -> str:
            return "<thing>"

    parsed = pydantic_core.from_json(make(metadata={"x": float("nan"), "t": Thing()}).to_json())
    assert parsed["metadata"] == {"x": None, "t": "<Thing>"}


FULL_RECORD_JSON = (
    b'{"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331",'
    b'"name":"answer","start":"2024-05-01T12:00:00.000000Z",'
    b'"end":"2024-05-01T12:00:01.500000Z","duration_ms":1500.0,'
    b'"parent_id":"00f067aa0ba902b7","kind":"llm","status":"error",'
    b'"error_type":"ValueError","error_message":"bad answer","service":"bot",'
    b'"model":"gpt-4o","provider":"openai","prompt_name":"triage","prompt_version":"v3",'
    b'"usage":{"input":10,"output":5,"cached_input":2,"total":15,"estimated":true},'
    b'"cost_usd":0.0012,"price_table":"2024-05","attempt":{"number":2,"of":3},'
    b'"limits":{"max_output_tokens":300},"finish_reason":"stop",'
    b'"input":{"messages":[{"role":"user","content":"hi"}]},"output":"hello",'
    b'"truncated":{"input":{"bytes":40000,"sha256":"' + b"ab" * 32 + b'"}},'
    b'"stream":{"items":7,"end":"closed"},"tags":["prod","eu"],"metadata":{"k":5},'
    b'"sample_weight":4.0,"schema_version":1}'
)


def test_to_json_bytes_are_pinned() -> None:
    """A full record serializes to exactly the bytes stores already hold."""
    assert full_record().to_json() == FULL_RECORD_JSON
    assert lg.Record.from_json(FULL_RECORD_JSON) == full_record()


@pytest.mark.parametrize(
    "record",
    [
        make(),
        full_record(),
        make(kind="feedback", metadata={"score": 0.5, "d": datetime.date(2024, 5, 1)}),
        make(output={"nested": full_record(), "set": {1}, "x": float("inf")}),
    ],
    ids=["minimal", "full", "feedback", "odd-values"],
)
def test_to_json_matches_pydantic_dump_json(record: lg.Record) -> None:
    """to_json gives the bytes of TypeAdapter(Record).dump_json, for any field values."""
    from pydantic import TypeAdapter

    from llmguard._core.records import _unknown

    expected = TypeAdapter(lg.Record).dump_json(record, exclude_none=True, fallback=_unknown)
    assert record.to_json() == expected


def test_to_json_is_computed_once() -> None:
    """A second to_json call returns the very same bytes object."""
    record = make()
    first = record.to_json()
    assert record.to_json() is first


def test_json_cache_does_not_affect_equality() -> None:
    """A record whose JSON was computed equals one whose JSON was not."""
    a, b = make(), make()
    a.to_json()
    assert a == b
    assert "_json" not in repr(a)


# -- immutability --------------------------------------------------------------------


def test_record_is_frozen() -> None:
    """Assigning to a record's field raises FrozenInstanceError."""
    record = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    "value",
    [
        lg.Usage(input=1),
        lg.types.StreamInfo(items=1, end="exhausted"),
        lg.types.ContentDigest(bytes=1, sha256=""),
    ],
)
def test_nested_values_are_frozen(value: Any) -> None:
    """Usage, StreamInfo and ContentDigest are frozen too."""
    name = dataclasses.fields(value)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, name, 2)


# -- iso_time ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ns", "expected"),
    [
        (0, "1970-01-01T00:00:00.000000Z"),
        (1, "1970-01-01T00:00:00.000000Z"),
        (999, "1970-01-01T00:00:00.000000Z"),
        (1_999, "1970-01-01T00:00:00.000001Z"),
        (999_999_999, "1970-01-01T00:00:00.999999Z"),
        (1_000_000_000, "1970-01-01T00:00:01.000000Z"),
        (
            calendar.timegm((2024, 2, 29, 23, 59, 59)) * 10**9 + 123_456_789,
            "2024-02-29T23:59:59.123456Z",
        ),
        (calendar.timegm((2000, 2, 29, 0, 0, 0)) * 10**9, "2000-02-29T00:00:00.000000Z"),
        (calendar.timegm((2038, 1, 19, 3, 14, 8)) * 10**9, "2038-01-19T03:14:08.000000Z"),
    ],
)
def test_iso_time_formats_known_instants(ns: int, expected: str) -> None:
    """Known instants format exactly, microseconds truncated rather than rounded."""
    assert iso_time(ns) == expected


def test_iso_time_is_right_within_and_across_seconds() -> None:
    """Consecutive calls in the same and in different seconds each give their own time."""
    base = 1_700_000_000 * 10**9
    assert iso_time(base + 1_000) == "2023-11-14T22:13:20.000001Z"
    assert iso_time(base + 2_000) == "2023-11-14T22:13:20.000002Z"
    assert iso_time(base + 10**9) == "2023-11-14T22:13:21.000000Z"
    assert iso_time(base + 3_000) == "2023-11-14T22:13:20.000003Z"


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
MAX_NS = int(
    (datetime.datetime(9999, 12, 31, tzinfo=datetime.timezone.utc) - EPOCH).total_seconds()
)


@given(ns=st.integers(min_value=0, max_value=MAX_NS))
def test_iso_time_agrees_with_datetime(ns: int) -> None:
    """For any instant, iso_time matches datetime's formatting with truncated microseconds."""
    moment = EPOCH + datetime.timedelta(microseconds=ns // 1000)
    assert iso_time(ns) == moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_JSON_VALUES = captured_content(max_leaves=20, int_min=-(2**70), int_max=2**70)


@given(value=_JSON_VALUES, name=st.text(min_size=1), number=st.floats())
def test_fast_encoding_writes_what_the_pydantic_serializer_writes(
    value: Any, name: str, number: float
) -> None:
    """The fast encoder's JSON is byte for byte the pydantic serializer's, whatever the
    content holds (big integers, NaN, control characters, lone surrogates fall back)."""
    from llmguard._core import records

    record = lg.Record(
        trace_id="1" * 32, span_id="2" * 16, name=name, start="s", end="e",
        duration_ms=number, input=value, metadata={"v": value}, tags=(name,),
        usage=lg.Usage(input=1, estimated=True),
    )  # fmt: skip
    serializer = records.build_serializer()
    try:
        expected = serializer.to_json(record, exclude_none=True, fallback=records._unknown)
    except ValueError:  # a lone surrogate: the pydantic serializer refuses it too
        with pytest.raises(ValueError, match="surrogate"):
            record.to_json()
        return
    assert record.to_json() == expected


def test_fast_constructors_make_the_records_the_dataclass_makes() -> None:
    """`build_record` and `replaced` give what ``Record(...)`` and
    ``dataclasses.replace`` give, fresh defaults included, and refuse unknown fields."""
    from llmguard._core.records import build_record, replaced

    fields: dict[str, Any] = {
        "trace_id": "1" * 32, "span_id": "2" * 16, "name": "n", "start": "s", "end": "e",
        "duration_ms": 1.0, "usage": lg.Usage(input=3), "tags": ("a",), "input": {"k": [1]},
    }  # fmt: skip
    built = build_record(**fields)
    assert built == lg.Record(**fields)
    assert repr(built) == repr(lg.Record(**fields))
    assert built.metadata == {}
    assert built.metadata is not build_record(**fields).metadata
    assert replaced(built, output="o", status="error") == dataclasses.replace(
        built, output="o", status="error"
    )
    assert replaced(built, output="o").to_json() == dataclasses.replace(built, output="o").to_json()
    with pytest.raises(TypeError):
        build_record(**{**fields, "nope": 1})
    with pytest.raises(TypeError):
        build_record(trace_id="1")
    with pytest.raises(TypeError, match="nope"):
        replaced(built, nope=1)


def test_replaced_keeps_a_record_subclass_and_its_own_fields() -> None:
    """A subclass of `Record` comes back of its class, its own fields kept, through
    `replaced` and through the default redactor, which copies what it changes."""
    from llmguard._core.records import replaced

    @dataclasses.dataclass(frozen=True)
    class Tagged(lg.Record):
        team: str = "none"

    record = Tagged(
        trace_id="1" * 32, span_id="2" * 16, name="n", start="s", end="e", duration_ms=1.0,
        input={"q": "mail a@b.io"}, team="search",
    )  # fmt: skip
    copy = replaced(record, output="o")
    assert type(copy) is Tagged
    assert (copy.team, copy.output) == ("search", "o")
    with pytest.raises(TypeError):
        replaced(record, nope=1)
    redacted = lg.redact.DEFAULT(record)
    assert type(redacted) is Tagged
    assert (redacted.team, redacted.input) == ("search", {"q": "mail [email]"})


def test_span_constructor_makes_the_record_the_dataclass_makes() -> None:
    """`build_span_record` takes the fields a span sets, in order, and gives every other
    field its default, a fresh one where the default is made per record."""
    from llmguard._core.records import SPAN_FIELDS, build_span_record

    values = {
        "trace_id": "1" * 32, "span_id": "2" * 16, "parent_id": None, "kind": "tool",
        "name": "n", "start": "s", "end": "e", "duration_ms": 2.5, "status": "error",
        "error_type": "E", "error_message": "m", "service": "svc", "input": {"a": [1]},
        "output": "o", "stream": None, "metadata": {"k": 1},
    }  # fmt: skip
    built = build_span_record(*(values[name] for name in SPAN_FIELDS))
    expected = lg.Record(**values)
    assert type(built) is lg.Record
    assert built == expected
    assert repr(built) == repr(expected)
    assert built.to_json() == expected.to_json()
    assert built.tags == ()
    assert built.sample_weight == 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.name = "other"  # type: ignore[misc]


def test_constructors_without_a_class_change_make_the_same_records() -> None:
    """The constructors that set each slot through its descriptor (for an interpreter
    that refuses to change an object's class) build the records the dataclass builds."""
    from llmguard._core import records

    made = records._generated(reclass=False)
    fields: dict[str, Any] = {**BASE, "usage": lg.Usage(input=3), "tags": ("a",)}
    built = made["build"](**fields)
    assert type(built) is lg.Record
    assert built == lg.Record(**fields)
    assert built.to_json() == lg.Record(**fields).to_json()
    assert made["replace"](built, {"output": "o"}) == dataclasses.replace(built, output="o")
    values = [fields.get(name) for name in records.SPAN_FIELDS]
    values[records.SPAN_FIELDS.index("kind")] = "llm"
    values[records.SPAN_FIELDS.index("status")] = "ok"
    values[records.SPAN_FIELDS.index("metadata")] = {}
    span_built = made["build_span_with"](*values, {"model": "m"})
    expected = lg.Record(**{**BASE, "kind": "llm", "model": "m"})
    assert span_built == expected
    assert span_built.to_json() == expected.to_json()


def test_constructors_are_generated_at_the_first_record_by_racing_threads() -> None:
    """``import llmguard`` generates no constructor; threads building their first
    records at once all get correct records, and the names end up bound to the
    generated code."""
    script = """
import threading
import llmguard as lg
from llmguard._core import records
assert records._made is None, "generated at import"
assert records._json_data is records._first_json_data
start = threading.Barrier(8)
out = []
def work(i):
    start.wait()
    fields = dict(trace_id="1" * 32, span_id="2" * 16, name=str(i), start="s", end="e",
                  duration_ms=1.0)
    built = records.build_record(**fields)
    out.append((built == lg.Record(**fields), built.to_json() == lg.Record(**fields).to_json()))
threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
assert out == [(True, True)] * 8, out
assert records._made is not None
assert records.build_span_record is records._made["build_span"]
assert records._json_data is not records._first_json_data
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "ok", done.stderr


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(
    content=st.tuples(_JSON, _JSON, st.dictionaries(st.text(max_size=8), _JSON, max_size=4)),
    own=st.fixed_dictionaries(
        {},
        optional={
            "model": st.text(max_size=12),
            "provider": st.text(max_size=12),
            "finish_reason": st.text(max_size=8),
            "cost_usd": st.floats(min_value=0, max_value=1e6),
            "price_table": st.text(max_size=12),
            "price_source": st.text(max_size=20),
            "usage": st.builds(
                lg.Usage,
                input=st.integers(0, 10**9) | st.none(),
                output=st.integers(0, 10**9) | st.none(),
            ),
            "attempt": st.dictionaries(st.text(max_size=8), _JSON, max_size=4),
            "limits": st.dictionaries(st.text(max_size=8), _JSON, max_size=3),
            "tags": st.lists(st.text(max_size=6), max_size=3).map(tuple),
        },
    ),
)
def test_span_fields_constructor_makes_the_record_keywords_make(
    content: tuple[Any, Any, dict[str, Any]], own: dict[str, Any]
) -> None:
    """`build_span_fields` (a span's fields in order, plus its own fields such as a
    guard's usage and cost) gives the record, and the JSON, that keywords give."""
    from llmguard._core.records import SPAN_FIELDS, build_record, build_span_fields

    captured_in, captured_out, metadata = content
    values = (
        "1" * 32, "2" * 16, "3" * 16, "attempt", "attempt 1", "s", "e", 2.5, "ok", None,
        None, "svc", captured_in, captured_out, None, metadata,
    )  # fmt: skip
    built = build_span_fields(values, own)
    expected = build_record(**dict(zip(SPAN_FIELDS, values, strict=True)), **own)
    assert type(built) is lg.Record
    assert built == expected
    assert built.to_json() == expected.to_json()
    assert built.tags == own.get("tags", ())


def test_span_fields_constructor_refuses_names_it_cannot_set() -> None:
    """`build_span_fields` raises `TypeError` for a name that is not a field, and for a
    field the span's values already give."""
    from llmguard._core.records import SPAN_FIELDS, build_span_fields

    values = ("1" * 32, "2" * 16, None, "llm", "n", "s", "e", 1.0, "ok") + (None,) * 6 + ({},)
    assert len(values) == len(SPAN_FIELDS)
    with pytest.raises(TypeError, match="nope"):
        build_span_fields(values, {"nope": 1})
    with pytest.raises(TypeError, match="name"):
        build_span_fields(values, {"name": "again"})


@given(
    start=st.integers(min_value=0, max_value=MAX_NS // 2),
    duration=st.integers(min_value=0, max_value=10**15)
    | st.integers(min_value=0, max_value=3 * 10**9),
)
def test_iso_times_formats_a_start_and_its_end_as_iso_time_does(start: int, duration: int) -> None:
    """A span's start and end formatted together read as each formatted alone."""
    from llmguard._core.records import iso_times

    assert iso_times(start, duration) == (iso_time(start), iso_time(start + duration))
