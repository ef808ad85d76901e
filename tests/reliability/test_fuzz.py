"""Hypothesis over everything llmguard parses: model output, records, the command's input."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import llmguard as lg
from llmguard._core.records import ContentDigest, StreamInfo, Usage
from llmguard._guard.schema import (
    CompiledSchema,
    Extraction,
    SchemaErrors,
    compile_schema,
    extract,
    extract_value,
    format_errors,
)
from llmguard.cli._dataset import Dataset, DatasetError, Window
from tests._helpers.schemas import NESTED_JSON_SCHEMA, OBJECT, TICKET, Answer, Ticket

# -- lenient extraction from model output ------------------------------------------------------

FRAGMENTS = ["{", "}", "[", "]", "```", "```json\n", '"', "json", ":", ",", "\n", " ", "1", "-"]
FRAGMENTS += ["true", "null", "NaN", '"category"', '"bug"', '"urgency"', "\\", "\\u", "é", "a"]
SCHEMAS = [
    TICKET,
    OBJECT,
    compile_schema(str),
    compile_schema(int),
    compile_schema(list[Ticket]),
    compile_schema(NESTED_JSON_SCHEMA),
    compile_schema(Answer, context={"doc_ids": ["a"]}),
]
texts = st.one_of(st.text(), st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join))


@given(text=texts, schema=st.sampled_from(SCHEMAS))
def test_extract_never_raises_on_any_text(text: str, schema: CompiledSchema) -> None:
    """Arbitrary text gives an Extraction: a value, or errors -- never an exception."""
    found = extract(text, schema)
    assert isinstance(found, Extraction)
    assert found.ok == (not found.errors)
    if not found.ok:
        assert found.value is None
        assert all(e.path.startswith("$") for e in found.errors)


# -- validation errors, formatted for a re-ask ---------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=300)
    | st.sampled_from(["bug", "billing", "other", "a"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["category", "urgency", "items", "text", "source_id"]) | st.text(),
            inner,
            max_size=5,
        )
    ),
    max_leaves=25,
)
_URL = re.compile(r"https?://")


# 100 generated examples (was 300), after values whose errors carry long offending
# values, and more errors than the 21 lines shown, as data and as JSON text.
@settings(max_examples=100)
@given(data=JSON_VALUES, schema=st.sampled_from(SCHEMAS), as_text=st.booleans())
@example(
    data={"category": "x" * 300, "urgency": [1.5] * 40, "items": "y" * 300},
    schema=TICKET,
    as_text=False,
)
@example(data=[{"text": "z" * 300}] * 30, schema=SCHEMAS[4], as_text=True)
@example(data="q\n" * 150, schema=SCHEMAS[3], as_text=False)
def test_validation_errors_format_as_short_lines(
    data: Any, schema: CompiledSchema, as_text: bool
) -> None:
    """Any value against any schema: a value, or errors rendered one short line each,
    with a JSON path, no documentation URL, and the offending value cut short."""
    found = extract_value(json.dumps(data) if as_text else data, schema, repair="object")
    if found.ok:
        return
    text = format_errors(found.errors)
    lines = text.split("\n")
    assert len(lines) == min(len(found.errors), 21)
    for error in found.errors:
        assert error.path.startswith("$")
        assert "\n" not in error.message
        assert len(error.message) <= 200
        assert len(error.value) <= 80
        assert not _URL.search(error.message)
    assert str(SchemaErrors(found.errors)) == text


# -- records: to_json / from_json ------------------------------------------------------------------

FINITE = st.floats(allow_nan=False, allow_infinity=False)
INTEGERS = st.integers(-(2**63), 2**63 - 1) | st.sampled_from([2**63, -(2**63) - 1, 10**400])
JSON_CONTENT = st.recursive(
    st.none() | st.booleans() | INTEGERS | FINITE | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=15,
)
OPTIONAL_TEXT = st.none() | st.text()
COUNTS = st.none() | st.integers(0, 2**40)
RECORDS = st.builds(
    lg.Record,
    trace_id=st.text(),
    span_id=st.text(),
    name=st.text(),
    start=st.text(),
    end=st.text(),
    duration_ms=FINITE,
    parent_id=OPTIONAL_TEXT,
    kind=st.sampled_from(["llm", "attempt", "tool", "agent", "step", "span", "feedback"]),
    status=st.sampled_from(["ok", "error", "limit"]),
    error_type=OPTIONAL_TEXT,
    error_message=OPTIONAL_TEXT,
    service=OPTIONAL_TEXT,
    model=OPTIONAL_TEXT,
    provider=OPTIONAL_TEXT,
    prompt_name=OPTIONAL_TEXT,
    prompt_version=OPTIONAL_TEXT,
    usage=st.none()
    | st.builds(
        Usage,
        input=COUNTS,
        output=COUNTS,
        cached_input=COUNTS,
        reasoning=COUNTS,
        total=COUNTS,
        estimated=st.booleans(),
    ),
    cost_usd=st.none() | FINITE,
    price_table=OPTIONAL_TEXT,
    attempt=st.none() | st.dictionaries(st.text(), JSON_CONTENT, max_size=4),
    limits=st.none() | st.dictionaries(st.text(), JSON_CONTENT, max_size=4),
    finish_reason=OPTIONAL_TEXT,
    input=JSON_CONTENT,
    output=JSON_CONTENT,
    truncated=st.none()
    | st.dictionaries(
        st.sampled_from(["input", "output"]),
        st.builds(ContentDigest, bytes=st.integers(0, 2**40), sha256=st.text()),
    ),
    stream=st.none()
    | st.builds(
        StreamInfo,
        items=st.integers(0, 2**31),
        end=st.sampled_from(["exhausted", "closed", "cancelled", "error"]),
    ),
    tags=st.lists(st.text(), max_size=3).map(tuple),
    metadata=st.dictionaries(st.text(), JSON_CONTENT, max_size=4),
    sample_weight=FINITE,
)


def _hard_record(**content: Any) -> lg.Record:
    """A record with tags out of order and two truncated digests, and ``content``."""
    return lg.Record(
        trace_id="t",
        span_id="s",
        name="n",
        start="a",
        end="b",
        duration_ms=0.0,
        tags=("b", "a", "b"),
        truncated={
            "output": ContentDigest(bytes=2**40, sha256="x"),
            "input": ContentDigest(bytes=0, sha256=""),
        },
        **content,
    )


# Three planted faults (tags reordered, the second truncated digest dropped, an integer
# past 64 bits left to orjson) each failed it within 50 generated examples in most seeds;
# the examples hold their cases, so they are tried first, every run: once written by
# orjson (64-bit integers) and once by pydantic's serializer (an integer past 64 bits).
@settings(max_examples=50)
@given(RECORDS)
@example(_hard_record(input={"n": [2**63 - 1, -(2**63)]}, metadata={"\u2028": 1.5}))
@example(_hard_record(input={"n": [10**400, -(2**63) - 1]}, output=2**63, metadata={"k": 2**64}))
def test_any_record_round_trips_through_json(record: lg.Record) -> None:
    """Record.from_json(record.to_json()) equals the record, and the JSON is one line."""
    line = record.to_json()
    assert b"\n" not in line
    assert lg.Record.from_json(line) == record
    assert lg.Record.from_dict(json.loads(line)) == record


@given(st.binary(max_size=300) | JSON_CONTENT.map(lambda v: json.dumps(v).encode()))
def test_from_json_gives_a_record_or_a_value_error(data: bytes) -> None:
    """Any bytes: a record, or ValueError / TypeError -- what readers skip."""
    try:
        record = lg.Record.from_json(data)
    except (ValueError, TypeError):
        return
    assert isinstance(record, lg.Record)


# -- the command's input: time windows and files ------------------------------------------------

BOUND_PARTS = st.sampled_from(
    [
        "2025", "-", "01", "12", "31", "T", " ", "00", "23", ":", "59", ".", "5", "Z", "z",
        "+", "14", "0001", "9999", "-05:00", "+14:00", "..", "x", "\x00", "٣",
    ]
)  # fmt: skip
BOUNDS = st.text(max_size=30) | st.lists(BOUND_PARTS, max_size=12).map("".join)


@settings(max_examples=400)
@given(since=st.none() | BOUNDS, until=st.none() | BOUNDS)
@example(since="0001-01-01T00:00+01:00", until=None)
@example(since=None, until="9999-12-31T23:00-05:00")
def test_window_parse_gives_a_window_or_a_one_line_error(
    since: str | None, until: str | None
) -> None:
    """Any pair of bounds: a window with since before until, or a one-line DatasetError."""
    try:
        window = Window.parse(since, until)
    except DatasetError as exc:
        message = str(exc)
    else:
        message = ""
        if window.since is not None and window.until is not None:
            assert window.since < window.until
    assert "\n" not in message


@settings(max_examples=400)
@given(BOUNDS | st.tuples(BOUNDS, BOUNDS).map(".. ".join))
def test_window_parse_range_gives_a_window_or_a_one_line_error(text: str) -> None:
    """Any range text: a window, or a one-line DatasetError."""
    message = ""
    try:
        Window.parse_range(text)
    except DatasetError as exc:
        message = str(exc)
    assert "\n" not in message


ZONES = st.none() | st.integers(-14 * 60, 14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@settings(max_examples=300)
@given(
    first=st.datetimes(timezones=ZONES),
    second=st.datetimes(timezones=ZONES),
    sep=st.sampled_from(["T", " "]),
)
@example(first=datetime(1, 1, 1), second=datetime(2025, 1, 1), sep="T")
def test_window_bounds_compare_like_the_times_they_name(
    first: datetime, second: datetime, sep: str
) -> None:
    """Any two ISO times: the window's bounds order like the instants (naive = UTC),
    whatever the year or offset; an instant outside years 1-9999 is a DatasetError."""
    since, until = first.isoformat(sep), second.isoformat(sep)
    try:
        low = Window.parse(since, None).since
        high = Window.parse(None, until).until
    except DatasetError as exc:
        low = high = str(exc)
        assert_out_of_range = True
    else:
        assert_out_of_range = False
    if assert_out_of_range:
        assert "out of range" in str(low)
    else:
        assert low is not None
        assert high is not None
        assert (low < high) == (_utc(first) < _utc(second))


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


def _line(record: lg.Record) -> bytes:
    return record.to_json()


GOOD_LINES = RECORDS.map(_line)
JSON_LINES = st.dictionaries(
    st.sampled_from(["trace_id", "span_id", "name", "start", "end", "duration_ms", "kind"])
    | st.sampled_from(["usage", "attempt", "metadata", "tags", "stream", "truncated", "status"]),
    JSON_CONTENT,
    max_size=8,
).map(lambda v: json.dumps(v).encode())
FIELDS = [
    "trace_id", "span_id", "parent_id", "name", "start", "end", "duration_ms", "kind",
    "status", "model", "service", "usage", "cost_usd", "attempt", "limits", "metadata",
    "tags", "stream", "truncated", "sample_weight", "input",
]  # fmt: skip


def _with_field(record: lg.Record, field: str, value: Any) -> bytes:
    data = record.to_dict()
    data[field] = value
    return json.dumps(data).encode()


# A well-formed record with one field holding any JSON value: the likeliest damage.
MISTYPED_LINES = st.builds(_with_field, RECORDS, st.sampled_from(FIELDS), JSON_CONTENT)
LINES = st.one_of(GOOD_LINES, JSON_LINES, MISTYPED_LINES, st.binary(max_size=80))


_SPAN = lg.Record(
    trace_id="0" * 31 + "1",
    span_id="0" * 15 + "1",
    name="answer",
    start="2025-03-01T12:00:00.000000Z",
    end="2025-03-01T12:00:01.000000Z",
    duration_ms=1000.0,
    kind="llm",
    status="ok",
)


# A loader that stored a record with an unusable start (the NOT NULL column fails) went
# unseen by 60 generated examples and was caught from 75 on; the @examples hold that
# case (alone, after a good copy of its span, and before one), so 60 are enough.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(LINES, max_size=6), tail=st.binary(max_size=40))
@example(lines=[_with_field(_SPAN, "start", "soon")], tail=b"")
@example(lines=[_line(_SPAN), _with_field(_SPAN, "start", 0)], tail=b"\xff")
@example(lines=[_with_field(_SPAN, "start", None), _line(_SPAN)], tail=b"")
def test_dataset_open_gives_records_or_a_one_line_error(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes], tail: bytes
) -> None:
    """Any bytes in a JSON Lines file: the command loads it or says why in one line."""
    path = tmp_path_factory.mktemp("fuzz") / "records.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n" + tail)
    try:
        dataset = Dataset.open(path)
    except DatasetError as exc:
        message = str(exc)
    else:
        message = ""
        with dataset:
            dataset.stats(("name",))
    assert "\n" not in message
